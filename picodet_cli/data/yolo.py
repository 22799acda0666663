"""Read a YOLO-format dataset (Ultralytics / Roboflow exports: `data.yaml`, `images/`, `labels/*.txt`).

`data.yaml` keys as Ultralytics reads them: `path` (the dataset root; relative to the yaml's folder, default that
folder), `train`, `val`, `test` (each a folder of images, a list file of image paths, or a list of those; relative
to `path`, with Roboflow's `../train/images` also found under `path`), `names` (a list, or a dict id -> name).
Each image's label file is its path with the last `/images/` replaced by `/labels/` and the suffix by `.txt`;
lines are `class cx cy w h` normalized to the image size, or `class x1 y1 x2 y2 ...` polygons (their bounding
box is used). An image without a label file is a background image (no boxes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from picodet_cli.data import records as rec
from picodet_cli.data.records import IMAGE_SUFFIXES, DatasetError, DatasetIndex, ImageRecord, Tally

YOLO_HINT = "give a data.yaml with `names` and `train` / `val` entries (folders or list files of images)"
SPLITS = ("train", "val", "test")
NO_LABELS = "background images (no label file)"


def load_data_yaml(path: Path) -> dict[str, Any]:
    """The parsed data.yaml with `path` made absolute and `names` as a list; malformed files are a DatasetError."""
    import yaml

    if not path.is_file():
        raise DatasetError(f"data.yaml not found: {path}", YOLO_HINT)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path} is not a readable YAML file: {str(exc).splitlines()[0]}", YOLO_HINT) from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} is not a YOLO data.yaml (not a mapping)", YOLO_HINT)
    data = dict(data)
    data["names"] = _names(data.get("names"), data.get("nc"), path)
    root = Path(str(data.get("path") or ".")).expanduser()
    data["path"] = (root if root.is_absolute() else path.parent / root).resolve()
    return data


def _names(names: Any, nc: Any, path: Path) -> list[str]:
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: names: keys must be class ids 0..N-1", YOLO_HINT) from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{path}: names: ids must be 0..{len(ids) - 1} without gaps", YOLO_HINT)
        names = [names[k] if k in names else names[str(k)] for k in ids]
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{path}: names: missing or not a list / dict of class names", YOLO_HINT)
    names = [str(n) for n in names]
    if nc is not None and nc != len(names):
        raise DatasetError(f"{path}: nc is {nc} but names lists {len(names)} classes", "make them agree")
    return names


def split_sources(data: dict[str, Any], split: str, yaml_path: Path) -> list[Path]:
    """The folders / list files a split of the yaml names, resolved as Ultralytics does (`../x` also under path)."""
    entry = data.get(split)
    if entry in (None, ""):
        raise DatasetError(f"{yaml_path}: no `{split}` entry", YOLO_HINT)
    root: Path = data["path"]
    sources = []
    for item in entry if isinstance(entry, list) else [entry]:
        text = str(item)
        candidate = (root / Path(text).expanduser()).resolve()
        if not candidate.exists() and text.startswith("../"):
            candidate = (root / text[3:]).resolve()
        sources.append(candidate)
    return sources


def image_paths(sources: list[Path]) -> tuple[list[Path], list[str]]:
    """Image files of folders (recursively, sorted) and list files (lines relative to the file), and missing sources."""
    paths: list[Path] = []
    missing = []
    for source in sources:
        if source.is_dir():
            found = []
            for folder, _, files in os.walk(source):
                found += [os.path.join(folder, f) for f in files if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES]
            paths += [Path(p) for p in sorted(found)]
        elif source.is_file() and source.suffix.lower() == ".txt":
            lines = source.read_text(encoding="utf-8").splitlines()
            paths += [(source.parent / line.strip()) for line in lines if line.strip()]
        elif source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
            paths.append(source)
        else:
            missing.append(str(source))
    return paths, missing


def label_path(image: str) -> str:
    """Ultralytics' rule: the last `/images/` becomes `/labels/`, the suffix `.txt`."""
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return labels.join(image.rsplit(images, 1)).rsplit(".", 1)[0] + ".txt"


def read_yolo(
    images: Path, annotations: Path, classes: list[str] | None = None, keep_empty: bool = True
) -> DatasetIndex:
    """Index one split: `annotations` is the data.yaml; `images` a folder or list file of images, or a path named
    like a split of the yaml (`train`, `val`, `test`) beside it or not on disk, which reads that split's entry.
    """
    images, annotations = Path(images), Path(annotations)
    data = load_data_yaml(annotations)
    names = data["names"]
    if classes is not None and list(classes) != names:
        raise DatasetError(f"classes do not match {annotations.name}: {list(classes)} vs {names}",
                           "give the names in the yaml's order, or no class list")  # fmt: skip
    beside = images.parent.resolve() == annotations.parent.resolve() and data.get(images.name) not in (None, "")
    if images.name in SPLITS and (not images.exists() or beside):
        sources = split_sources(data, images.name, annotations)
    else:
        sources = [images]
    paths, missing = image_paths(sources)
    if missing:
        raise DatasetError(f"{annotations.name}: image source not found: {missing[0]}", YOLO_HINT)
    skips, found = Tally(), Tally()
    labels = _Labels()
    sizes = []
    for path in paths:
        text = str(path)
        dims = rec.image_size(text)
        if dims is None:
            skips.add(rec.UNKNOWN_SIZE if path.is_file() else rec.MISSING_IMAGE, path.name)
            text = None
        sizes.append(dims or (0, 0))
        labels.read(label_path(text) if text else None, len(sizes) - 1, skips, found, path.name)
    boxes, classes, starts = labels.finish(np.array(sizes, np.float64).reshape(-1, 2), len(names), paths, skips, found)
    records = []
    for i, (path, (width, height)) in enumerate(zip(paths, sizes, strict=True)):
        if not width:
            continue
        rows = slice(starts[i], starts[i + 1])
        if starts[i] == starts[i + 1] and not keep_empty:
            skips.add(rec.EMPTY_IMAGE, path.name)
            continue
        records.append(ImageRecord(path, width, height, boxes[rows], classes[rows], len(records)))
    category_ids = list(range(1, len(names) + 1))
    source = f"yolo:{annotations}:{images.name}"
    return DatasetIndex(records, names, category_ids, skips.counts, source, None, len(paths), skips.examples, found)


class _Labels:
    """Label lines of every image gathered as text, then checked, scaled and clipped as arrays at once."""

    def __init__(self) -> None:
        self.tokens: list[str] = []  # `class cx cy w h` lines of well-formed files, in order
        self.counts: list[tuple[int, int]] = []  # (image, lines) for those tokens
        self.slow: list[tuple[int, float, float, float, float, float]] = []  # (image, class, x1, y1, x2, y2)

    def read(self, path: str | None, image: int, skips: Tally, found: Tally, name: str) -> None:
        """Add one label file (None: the image is unusable; a missing file: a background image)."""
        if path is None:
            return
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            found.add(NO_LABELS, name)
            return
        except (OSError, UnicodeDecodeError):
            skips.add(rec.LABEL_LINE, Path(path).name)
            return
        tokens = text.split()
        lines = [line for line in text.splitlines() if line.strip()]
        if len(tokens) == 5 * len(lines) and all(t.isdigit() for t in tokens[::5]):
            self.tokens += tokens
            self.counts.append((image, len(lines)))
            return
        for line in lines:  # polygons, or lines to count as malformed
            row = _parse_line(line.split())
            if row is None:
                skips.add(rec.LABEL_LINE, Path(path).name)
            else:
                self.slow.append((image, *row))

    def finish(
        self, sizes: np.ndarray, num_classes: int, paths: list[Path], skips: Tally, notes: Tally
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel xyxy boxes and classes of all images, grouped by image, and each image's first row."""
        try:
            fast = np.array(self.tokens, np.float64).reshape(-1, 5)
        except ValueError:  # a token that is no number: find those files and parse them line by line (rare)
            fast = self._split_bad_files(paths, skips)
        image = np.repeat([c[0] for c in self.counts], [c[1] for c in self.counts]).astype(np.int64)
        cx, cy, w, h = fast[:, 1], fast[:, 2], fast[:, 3], fast[:, 4]
        corners = np.stack([fast[:, 0], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        if self.slow:
            slow = np.array(self.slow, np.float64)
            image = np.concatenate([image, slow[:, 0].astype(np.int64)])
            corners = np.concatenate([corners, slow[:, 1:]])
        cls = corners[:, 0].astype(np.int64)
        scale = np.concatenate([sizes, sizes], 1)[image]
        xyxy = corners[:, 1:] * scale

        def count(mask: np.ndarray, reason: str, into: Tally = skips) -> np.ndarray:
            hits = np.flatnonzero(mask)
            if len(hits):
                into.add(reason, n=len(hits))
                for j in hits[: rec.EXAMPLES_KEPT].tolist():
                    into.add(reason, label_path(paths[image[j]].name), n=0)
            return mask

        left = ~count((cls < 0) | (cls >= num_classes), rec.UNKNOWN_CLASS)
        left &= ~count(left & ~np.isfinite(xyxy).all(axis=1), rec.MALFORMED_BOX)
        left &= ~count(left & ((xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1])), rec.BAD_SIZE_BOX)
        clipped = np.clip(xyxy, 0, scale)
        left &= ~count(left & ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])), rec.OUTSIDE_BOX)
        count(left & (np.abs(clipped - xyxy).max(axis=1) > 0.01), rec.CLIPPED_BOX, notes)
        usable = np.flatnonzero(left)
        order = usable[np.argsort(image[usable], kind="stable")]
        starts = np.searchsorted(image[order], np.arange(len(sizes) + 1))
        return clipped[order].astype(np.float32), cls[order], starts

    def _split_bad_files(self, paths: list[Path], skips: Tally) -> np.ndarray:
        """The [N, 5] rows of the files whose tokens are all numbers; the other files' lines go to `slow`."""
        rows, good, at = [], [], 0
        for image, lines in self.counts:
            chunk = self.tokens[at : at + 5 * lines]
            at += 5 * lines
            try:
                rows.append(np.array(chunk, np.float64).reshape(-1, 5))
                good.append((image, lines))
            except ValueError:
                for k in range(lines):
                    row = _parse_line(chunk[5 * k : 5 * k + 5])
                    if row is None:
                        skips.add(rec.LABEL_LINE, label_path(paths[image].name))
                    else:
                        self.slow.append((image, *row))
        self.counts = good
        return np.concatenate(rows) if rows else np.zeros((0, 5))


def _parse_line(parts: list[str]) -> tuple[float, float, float, float, float] | None:
    """(class, x1, y1, x2, y2) normalized from a box or polygon line; None when malformed."""
    try:
        cls, values = int(parts[0]), [float(v) for v in parts[1:]]
    except ValueError:
        return None
    if len(values) == 4:
        cx, cy, w, h = values
        return cls, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if len(values) >= 6 and len(values) % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        return cls, min(xs), min(ys), max(xs), max(ys)
    return None
