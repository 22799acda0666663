"""Read a COCO instances json into a `DatasetIndex` (training targets + evaluation ground truth)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from picodet_cli.data import records as rec
from picodet_cli.data.records import DatasetError, DatasetIndex, ImageRecord, Tally

COCO_HINT = "give a COCO instances json with images, annotations and categories lists"


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
    categories = data["categories"]
    names = [str(c["name"]) for c in categories]
    if classes is not None and list(classes) != names:
        raise DatasetError(f"classes do not match {annotations.name}: {_first_difference(list(classes), names)}",
                           "give the category names in the json's order, or no class list")  # fmt: skip
    class_of = {c["id"]: i for i, c in enumerate(categories)}
    skips, notes = Tally(), Tally()
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in data["annotations"]:
        by_image[ann.get("image_id")].append(ann)
    records, gt_images, gt_annotations = [], [], []
    for entry in data["images"]:
        anns = by_image.pop(entry.get("id"), [])
        name = str(entry.get("file_name", ""))
        path = images / name
        if not path.is_file():
            skips.add(rec.MISSING_IMAGE, name)
            continue
        dims = rec.image_dims(entry.get("width"), entry.get("height"), path)
        if dims is None:
            skips.add(rec.UNKNOWN_SIZE, name)
            continue
        boxes, labels = _targets(anns, class_of, dims, skips, notes, name)
        if not boxes and not keep_empty:
            skips.add(rec.EMPTY_IMAGE, name)
            continue
        records.append(ImageRecord(path, dims[0], dims[1], *rec.as_targets(boxes, labels), int(entry["id"])))
        gt_images.append({**entry, "width": dims[0], "height": dims[1]})
        gt_annotations += [{k: v for k, v in a.items() if k != "segmentation"} for a in anns]
    if by_image:
        skips.add(rec.ORPHAN_BOX, f"image_id {next(iter(by_image))}", sum(len(v) for v in by_image.values()))
    gt = {"images": gt_images, "annotations": gt_annotations, "categories": [dict(c) for c in categories]}
    ids = [c["id"] for c in categories]
    source = f"coco:{annotations}"
    return DatasetIndex(records, names, ids, skips.counts, source, gt, len(data["images"]), skips.examples, notes)


def _targets(
    anns: list[dict[str, Any]], class_of: dict[Any, int], dims: tuple[int, int], skips: Tally, notes: Tally, name: str
) -> tuple[list[list[float]], list[int]]:
    """Training boxes (xyxy, clipped) and classes of one image; crowd and bad boxes are counted and skipped."""
    boxes, labels = [], []
    for ann in anns:
        if ann.get("iscrowd"):
            skips.add(rec.CROWD_BOX, name)
            continue
        if ann.get("category_id") not in class_of:
            skips.add(rec.UNKNOWN_CLASS, name)
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list | tuple) or len(bbox) != 4:
            skips.add(rec.MALFORMED_BOX, name)
            continue
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            skips.add(rec.MALFORMED_BOX, name)
            continue
        box = rec.clip_counted([x, y, x + w, y + h], *dims, skips, notes, name)
        if box is None:
            continue
        boxes.append(box)
        labels.append(class_of[ann["category_id"]])
    return boxes, labels


def _load_json(path: Path) -> dict[str, Any]:
    """The parsed json, checked to have COCO's three lists with the keys used here."""
    if not path.is_file():
        raise DatasetError(f"annotation file not found: {path}", COCO_HINT)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is not a readable JSON file: {exc}", COCO_HINT) from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or
               not isinstance(data.get(k), list)]  # fmt: skip
    if missing:
        raise DatasetError(f"{path} is not a COCO instances file (no {', '.join(missing)} list)", COCO_HINT)
    checks = {"images": ("id", "file_name"), "categories": ("id", "name")}
    for section, keys in checks.items():
        for entry in data[section]:
            if not isinstance(entry, dict) or any(k not in entry for k in keys):
                raise DatasetError(f"{path}: an entry of {section} lacks {' or '.join(keys)}: {entry!r:.80}", COCO_HINT)
    if not all(isinstance(a, dict) for a in data["annotations"]):
        raise DatasetError(f"{path}: annotations must be objects", COCO_HINT)
    return data


def _first_difference(given: list[str], found: list[str]) -> str:
    """Where two class lists first differ, in words."""
    for i, (a, b) in enumerate(zip(given, found, strict=False)):
        if a != b:
            return f"class {i} is {a!r} but the json has {b!r}"
    return f"{len(given)} classes given, the json has {len(found)}"
