"""Read a COCO instances json into a `DatasetIndex` (training targets + evaluation ground truth).

Built for train2017 scale (118k images, 860k boxes): msgspec decodes only the keys used here (polygons and
RLE masks are skipped without being built), boxes are checked and clipped as arrays, and the evaluation
ground truth is built only when asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from picodet_cli.data import records as rec
from picodet_cli.data.records import DatasetError, DatasetIndex, ImageRecord, Tally

COCO_HINT = "give a COCO instances json with images, annotations and categories lists"


class _Image(msgspec.Struct):
    id: Any
    file_name: str
    width: Any = None
    height: Any = None


class _Annotation(msgspec.Struct):
    image_id: Any = None
    category_id: Any = None
    bbox: Any = None
    iscrowd: Any = 0
    area: Any = None
    id: Any = None


class _Category(msgspec.Struct):
    id: Any
    name: Any


class _Coco(msgspec.Struct):
    images: list[_Image]
    annotations: list[_Annotation]
    categories: list[_Category]


def read_coco(
    images: Path, annotations: Path, classes: list[str] | None = None, keep_empty: bool = True
) -> DatasetIndex:
    """Index the images of a COCO json that exist under `images`.

    Crowd boxes are left out of the training targets but stay in the evaluation ground truth.
    `classes`, when given, must equal the json's category names in order. `keep_empty` False drops
    images with no training box (as the original training reader); keep them for evaluation.
    """
    images, annotations = Path(images), Path(annotations)
    if not images.is_dir():
        raise DatasetError(f"image folder not found: {images}", "give the folder the json's file_name entries are in")
    data = _load_json(annotations)
    names = [str(c.name) for c in data.categories]
    if classes is not None and list(classes) != names:
        raise DatasetError(f"classes do not match {annotations.name}: {_first_difference(list(classes), names)}",
                           "give the category names in the json's order, or no class list")  # fmt: skip
    skips, notes = Tally(), Tally()
    listing = _Listing()
    dims = np.zeros((len(data.images) + 1, 2))  # width, height of each present image (last row: orphans)
    for i, entry in enumerate(data.images):
        path = images / entry.file_name
        if not listing.exists(path):
            skips.add(rec.MISSING_IMAGE, entry.file_name)
            continue
        size = rec.image_dims(entry.width, entry.height, path)
        if size is None:
            skips.add(rec.UNKNOWN_SIZE, entry.file_name)
            continue
        dims[i] = size
    boxes = _Boxes(data, dims, skips, notes)
    records, kept = [], []
    for i in np.flatnonzero(dims[:-1, 0] > 0).tolist():
        entry = data.images[i]
        image_boxes, image_classes = boxes.of_image(i)
        if not len(image_boxes) and not keep_empty:
            skips.add(rec.EMPTY_IMAGE, entry.file_name)
            continue
        width, height = int(dims[i, 0]), int(dims[i, 1])
        records.append(ImageRecord(images / entry.file_name, width, height, image_boxes, image_classes, int(entry.id)))
        kept.append((i, (width, height)))
    ids = [c.id for c in data.categories]
    source = f"coco:{annotations}"

    def ground_truth() -> dict[str, Any]:
        return _ground_truth(data, kept, boxes)

    listed = len(data.images)
    return DatasetIndex(records, names, ids, skips.counts, source, ground_truth, listed, skips.examples, notes)


class _Listing:
    """Whether files exist, from one listing per folder (a stat per image is slow at 100k images)."""

    def __init__(self) -> None:
        self.folders: dict[Path, set[str]] = {}

    def exists(self, path: Path) -> bool:
        folder = path.parent
        if folder not in self.folders:
            try:
                self.folders[folder] = set(os.listdir(folder))
            except OSError:
                self.folders[folder] = set()
        return path.name in self.folders[folder]


class _Boxes:
    """The annotations of present images as arrays (class, clipped xyxy), checked and counted once; per image."""

    def __init__(self, data: _Coco, dims: np.ndarray, skips: Tally, notes: Tally) -> None:
        anns = data.annotations
        image_of = {entry.id: i for i, entry in enumerate(data.images)}
        class_of = {c.id: k for k, c in enumerate(data.categories)}
        image = np.array([image_of.get(a.image_id, -1) for a in anns], np.int64)
        cls = np.array([class_of.get(a.category_id, -1) for a in anns], np.int64)
        crowd = np.array([bool(a.iscrowd) for a in anns], bool)
        xywh, malformed = _xywh([a.bbox for a in anns])
        x1, y1 = xywh[:, 0], xywh[:, 1]
        x2, y2 = x1 + xywh[:, 2], y1 + xywh[:, 3]
        width, height = dims[image, 0], dims[image, 1]  # 0 for missing images and orphans (row -1)
        file_of = [e.file_name for e in data.images]

        def count(mask: np.ndarray, reason: str, into: Tally = skips) -> np.ndarray:
            hits = np.flatnonzero(mask)
            if len(hits):
                into.add(reason, n=len(hits))
                for j in hits[: rec.EXAMPLES_KEPT].tolist():
                    into.add(reason, file_of[image[j]] if image[j] >= 0 else f"image_id {anns[j].image_id}", n=0)
            return mask

        left = ~count(image < 0, rec.ORPHAN_BOX) & (width > 0)
        left &= ~count(left & crowd, rec.CROWD_BOX)
        left &= ~count(left & (cls < 0), rec.UNKNOWN_CLASS)
        left &= ~count(left & malformed, rec.MALFORMED_BOX)
        left &= ~count(left & ((x2 <= x1) | (y2 <= y1)), rec.BAD_SIZE_BOX)
        clipped = np.stack([np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width),
                            np.clip(y2, 0, height)], 1)  # fmt: skip
        left &= ~count(left & ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])), rec.OUTSIDE_BOX)
        moved = np.abs(clipped - np.stack([x1, y1, x2, y2], 1)).max(axis=1) > 0.01
        count(left & moved, rec.CLIPPED_BOX, notes)
        usable = np.flatnonzero(left)
        self.order = usable[np.argsort(image[usable], kind="stable")]
        self.starts = np.searchsorted(image[self.order], np.arange(len(data.images) + 1))
        self.boxes, self.classes = clipped.astype(np.float32), cls
        self.image, self.xywh = image, xywh

    def of_image(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Training boxes (xyxy, clipped) and classes of image `i`."""
        rows = self.order[self.starts[i] : self.starts[i + 1]]
        return self.boxes[rows], self.classes[rows]


def _dim(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _xywh(bboxes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """[N, 4] float64 boxes and a mask of malformed ones (not 4 finite numbers; their row is zeros)."""
    try:
        xywh = np.array(bboxes, np.float64).reshape(len(bboxes), 4)
        return xywh, ~np.isfinite(xywh).all(axis=1)
    except (TypeError, ValueError):
        pass
    xywh = np.zeros((len(bboxes), 4))
    malformed = np.zeros(len(bboxes), bool)
    for j, bbox in enumerate(bboxes):
        try:
            values = [float(v) for v in bbox]
        except (TypeError, ValueError):
            values = []
        if len(values) == 4 and all(np.isfinite(values)):
            xywh[j] = values
        else:
            malformed[j] = True
    return xywh, malformed


def _ground_truth(data: _Coco, kept: list[tuple[int, tuple[int, int]]], boxes: _Boxes) -> dict[str, Any]:
    """COCO ground truth of the kept images: every annotation of theirs (crowd ones too), sizes as read."""
    images, kept_index = [], set()
    for i, (width, height) in kept:
        entry = data.images[i]
        images.append({"id": entry.id, "file_name": entry.file_name, "width": width, "height": height})
        kept_index.add(i)
    annotations = []
    for j, ann in enumerate(data.annotations):
        if boxes.image[j] not in kept_index:
            continue
        x, y, w, h = boxes.xywh[j].tolist()
        area = ann.area if isinstance(ann.area, int | float) else w * h
        annotations.append({"id": ann.id if ann.id is not None else j + 1, "image_id": ann.image_id,
                            "category_id": ann.category_id, "bbox": [x, y, w, h], "area": area,
                            "iscrowd": int(bool(ann.iscrowd))})  # fmt: skip
    categories = [{"id": c.id, "name": c.name} for c in data.categories]
    return {"images": images, "annotations": annotations, "categories": categories}


def _load_json(path: Path) -> _Coco:
    """The parsed json (only the keys used here), checked to have COCO's three lists."""
    if not path.is_file():
        raise DatasetError(f"annotation file not found: {path}", COCO_HINT)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path} is not a readable JSON file: {exc}", COCO_HINT) from None
    try:
        return msgspec.json.decode(raw, type=_Coco)
    except msgspec.ValidationError as exc:
        raise DatasetError(f"{path} is not a COCO instances file: {exc}", COCO_HINT) from None
    except msgspec.DecodeError as exc:
        raise DatasetError(f"{path} is not a readable JSON file: {exc}", COCO_HINT) from None


def _first_difference(given: list[str], found: list[str]) -> str:
    """Where two class lists first differ, in words."""
    for i, (a, b) in enumerate(zip(given, found, strict=False)):
        if a != b:
            return f"class {i} is {a!r} but the json has {b!r}"
    return f"{len(given)} classes given, the json has {len(found)}"
