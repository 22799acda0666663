"""What a dataset holds and what is wrong with it: the report behind `picodet data check` and `recipe check`.

Per split: images and boxes read, boxes per class, image and box size ranges, what was skipped and why (first
files named), classes without boxes, duplicate images, boxes clipped to or outside their image, and images
that cannot be decoded (a sample by default, every image with `strict`). `problems` are the reasons training
would fail; the CLI exits non-zero when there is one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from picodet_cli.data import records as rec
from picodet_cli.data.records import DatasetError, DatasetIndex

DECODE_SAMPLE = 32  # images decoded per split unless strict
MOSTLY = 0.5  # a split with fewer usable images than this share of the listed ones is "mostly unusable"


@dataclass
class SplitReport:
    """The report of one split (train, val, ...) of a dataset."""

    split: str
    source: str
    listed: int
    images: int
    boxes: int
    boxes_per_class: dict[str, int]
    empty_classes: list[str]
    image_size: dict[str, int]  # min/max width and height
    box_size: dict[str, float]  # min/max width and height in pixels
    skipped: dict[str, int]
    skipped_examples: dict[str, list[str]]
    notes: dict[str, int]
    note_examples: dict[str, list[str]]
    duplicates: list[str]  # files listed more than once, or with the same bytes as another (decoded ones)
    decoded: int
    undecodable: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def outside_boxes(self) -> int:
        """Boxes skipped for lying outside their image plus boxes clipped to it."""
        return self.skipped.get(rec.OUTSIDE_BOX, 0) + self.notes.get(rec.CLIPPED_BOX, 0)


@dataclass
class DataReport:
    """Every split of one dataset, and what would make training fail."""

    target: str
    format: str
    class_names: list[str]
    splits: list[SplitReport]
    problems: list[str] = field(default_factory=list)
    shared_images: list[str] = field(default_factory=list)  # images in two splits (first few)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(s.problems for s in self.splits)

    def all_problems(self) -> list[str]:
        return [*(f"{s.split}: {p}" for s in self.splits for p in s.problems), *self.problems]

    def to_dict(self) -> dict[str, Any]:
        splits = [{**asdict(s), "outside_boxes": s.outside_boxes} for s in self.splits]
        return {**asdict(self), "splits": splits, "ok": self.ok}


def split_report(split: str, index: DatasetIndex, strict: bool = False, min_images: int = 1) -> SplitReport:
    """Describe one read split; `min_images` is what training needs (a batch over all devices)."""
    records = index.records
    widths = np.array([r.width for r in records], np.int64)
    heights = np.array([r.height for r in records], np.int64)
    boxes = np.concatenate([r.boxes for r in records]) if records else np.zeros((0, 4), np.float32)
    classes = np.concatenate([r.classes for r in records]) if records else np.zeros(0, np.int64)
    per_class = np.bincount(classes, minlength=len(index.class_names))
    box_w, box_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    decoded, undecodable, same_bytes = _decode(index, strict)
    report = SplitReport(
        split=split,
        source=index.source,
        listed=index.listed,
        images=len(records),
        boxes=len(boxes),
        boxes_per_class={n: int(c) for n, c in zip(index.class_names, per_class, strict=False)},
        empty_classes=[n for n, c in zip(index.class_names, per_class, strict=False) if c == 0],
        image_size=_range(widths, heights, int),
        box_size=_range(box_w, box_h, lambda v: round(float(v), 1)),
        skipped={k: v for k, v in index.issues.items() if v},
        skipped_examples={k: v for k, v in index.examples.items() if index.issues.get(k)},
        notes=dict(index.notes.counts),
        note_examples=dict(index.notes.examples),
        duplicates=_listed_twice(index) + same_bytes,
        decoded=decoded,
        undecodable=undecodable,
    )
    report.problems = _problems(report, index, min_images)
    return report


def _range(w: np.ndarray, h: np.ndarray, cast: Any) -> dict[str, Any]:
    if not len(w):
        return {}
    return {"min_width": cast(w.min()), "max_width": cast(w.max()), "min_height": cast(h.min()),
            "max_height": cast(h.max())}  # fmt: skip


def _listed_twice(index: DatasetIndex) -> list[str]:
    seen: set[Path] = set()
    twice = []
    for r in index.records:
        if r.path in seen:
            twice.append(str(r.path))
        seen.add(r.path)
    return twice


def _decode(index: DatasetIndex, strict: bool) -> tuple[int, list[str], list[str]]:
    """(images decoded, those that failed, those whose bytes equal an earlier one's): all, or a fixed sample."""
    from picodet_cli.data.transforms import read_image
    from picodet_cli.errors import PicodetError

    records = index.records
    chosen = range(len(records))
    if not strict and len(records) > DECODE_SAMPLE:
        chosen = sorted(np.random.default_rng(0).choice(len(records), DECODE_SAMPLE, replace=False).tolist())
    bad, digests, same = [], {}, []
    for i in chosen:
        path = records[i].path
        try:
            read_image(path)
        except PicodetError:
            bad.append(str(path))
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in digests and digests[digest] != path:
            same.append(f"{path} = {digests[digest]}")
        digests.setdefault(digest, path)
    return len(chosen), bad, same


def _problems(report: SplitReport, index: DatasetIndex, min_images: int) -> list[str]:
    """Why training on (or evaluating) this split would fail, in words that name the cause."""
    problems = []
    why = "; ".join(rec.Tally(report.skipped, report.skipped_examples).lines()[:3])
    if report.images == 0:
        problems.append(f"no usable image of {report.listed} listed" + (f": {why}" if why else ""))
    elif report.images < MOSTLY * report.listed:
        problems.append(f"only {report.images} of {report.listed} listed images are usable: {why}")
    elif report.images < min_images:
        problems.append(f"{report.images} usable images are fewer than one batch of {min_images}")
    if report.decoded and len(report.undecodable) == report.decoded:
        problems.append(f"none of the {report.decoded} images tried can be decoded (e.g. {report.undecodable[0]})")
    return problems


# ---------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Split:
    """Where one split of a dataset lies, as `read_dataset` takes it."""

    name: str
    format: str
    images: Path
    annotations: Path


def find_splits(target: Path) -> tuple[str, list[Split]]:
    """The format and splits of a data.yaml or a dataset folder (YOLO, COCO or VOC layout)."""
    if target.is_file() and target.suffix.lower() in (".yaml", ".yml"):
        return "yolo", _yolo_splits(target)
    if not target.is_dir():
        raise DatasetError(f"{target}: not a recipe, data.yaml or dataset folder", DATA_HINT)
    yamls = sorted(target.glob("*.yaml")) + sorted(target.glob("*.yml"))
    if yamls:
        return "yolo", _yolo_splits(yamls[0])
    jsons = sorted((target / "annotations").glob("instances_*.json"))
    if jsons:
        names = [j.stem.removeprefix("instances_") for j in jsons]
        return "coco", [Split(n, "coco", target / n, j) for n, j in zip(names, jsons, strict=True)]
    if (target / "Annotations").is_dir():
        lists = [(n, target / f"{n}.txt") for n in ("trainval", "train", "val", "test")]
        found = [Split(n, "voc", target / "JPEGImages", p) for n, p in lists if p.is_file()]
        return "voc", found or [Split("all", "voc", target / "JPEGImages", target / "Annotations")]
    raise DatasetError(f"{target}: no data.yaml, annotations/instances_*.json or Annotations/ folder", DATA_HINT)


DATA_HINT = "give a recipe (.toml), a YOLO data.yaml, or a COCO / VOC / YOLO dataset folder"


def _yolo_splits(path: Path) -> list[Split]:
    from picodet_cli.data.yolo import SPLITS, load_data_yaml

    data = load_data_yaml(path)
    return [Split(s, "yolo", path.parent / s, path) for s in SPLITS if data.get(s) not in (None, "")]


def check_splits(
    target: str,
    data_format: str,
    splits: list[Split],
    classes: list[str] | None = None,
    strict: bool = False,
    min_train_images: int = 1,
    fail_fast: bool = False,
) -> DataReport:
    """Read and describe each split; a split that cannot be read at all is a problem (with `fail_fast`, a
    `DatasetError` whose message starts with the split's name).
    """
    from picodet_cli.data.index import read_dataset

    reports, problems, names = [], [], list(classes or [])
    seen: dict[Path, str] = {}
    overlap = []
    for split in splits:
        train = split.name.startswith("train")
        try:
            index = read_dataset(split.format, split.images, split.annotations, classes, not train, warn=False)
        except DatasetError as error:
            if fail_fast:
                raise DatasetError(f"{split.name}: {error.message}", error.hint) from None
            problems.append(f"{split.name}: {error.message}" + (f" ({error.hint})" if error.hint else ""))
            continue
        names = names or index.class_names
        reports.append(split_report(split.name, index, strict, min_train_images if train else 1))
        for r in index.records:
            other = seen.setdefault(r.path, split.name)
            if other != split.name and len(overlap) < rec.EXAMPLES_KEPT:
                overlap.append(f"{r.path} ({other} and {split.name})")
    return DataReport(target, data_format, names, reports, problems, overlap)
