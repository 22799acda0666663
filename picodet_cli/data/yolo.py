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
    records = []
    for path in paths:
        dims = rec.image_size(path)
        if dims is None:
            skips.add(rec.UNKNOWN_SIZE if path.is_file() else rec.MISSING_IMAGE, path.name)
            continue
        boxes, labels = _labels(label_path(str(path)), dims, len(names), skips, found, path.name)
        if not boxes and not keep_empty:
            skips.add(rec.EMPTY_IMAGE, path.name)
            continue
        records.append(ImageRecord(path, dims[0], dims[1], *rec.as_targets(boxes, labels), len(records)))
    category_ids = list(range(1, len(names) + 1))
    source = f"yolo:{annotations}:{images.name}"
    return DatasetIndex(records, names, category_ids, skips.counts, source, None, len(paths), skips.examples, found)


def _labels(
    path: str, dims: tuple[int, int], num_classes: int, skips: Tally, found: Tally, name: str
) -> tuple[list[list[float]], list[int]]:
    """Pixel xyxy boxes and classes of one label file; a missing file is a background image."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        found.add(NO_LABELS, name)
        return [], []
    except (OSError, UnicodeDecodeError):
        skips.add(rec.LABEL_LINE, Path(path).name)
        return [], []
    width, height = dims
    boxes, labels = [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        try:
            cls, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            skips.add(rec.LABEL_LINE, Path(path).name)
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        else:
            skips.add(rec.LABEL_LINE, Path(path).name)
            continue
        if not 0 <= cls < num_classes:
            skips.add(rec.UNKNOWN_CLASS, Path(path).name)
            continue
        box = rec.clip_counted([x1 * width, y1 * height, x2 * width, y2 * height], width, height, skips, found, name)
        if box is None:
            continue
        boxes.append(box)
        labels.append(cls)
    return boxes, labels
