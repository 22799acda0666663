"""Read Pascal-VOC XML annotations (a folder of XML files or a list file) into a `DatasetIndex`.

`difficult` objects are training targets (as the original VOC reader) but are marked iscrowd=1 in the
evaluation ground truth, so COCO eval ignores them like the VOC metric does (neither hit nor miss).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picodet_cli.data import records as rec
from picodet_cli.data.records import DatasetError, DatasetIndex, ImageRecord

VOC_HINT = "give a folder of VOC XML files or a list file of 'image_path xml_path' lines"


@dataclass
class _Object:
    name: str
    box: list[str | None]  # xmin, ymin, xmax, ymax as written
    difficult: bool


@dataclass
class _Annotation:
    image: Path
    width: str | None
    height: str | None
    objects: list[_Object]


def read_voc(
    images: Path, annotations: Path, classes: list[str] | None = None, keep_empty: bool = True
) -> DatasetIndex:
    """Index VOC annotations; `classes` None infers the sorted unique object names.

    With a folder of XML files, each XML's <filename> is looked up in `images`. With a list file,
    its lines are `image_path xml_path` relative to the list file's folder (`images` is not used).
    """
    images, annotations = Path(images), Path(annotations)
    pairs = _pairs(images, annotations)
    parsed = [_parse(xml, image, images) for image, xml in pairs]
    names = list(classes) if classes is not None else sorted({o.name for a in parsed for o in a.objects})
    if len(set(names)) != len(names) or not names:
        raise DatasetError(f"invalid class list {names!r:.120}", "give distinct class names, at least one")
    class_of = {name: i for i, name in enumerate(names)}
    issues: dict[str, int] = {}
    records, crowd = [], []
    for ann in parsed:
        if not ann.image.is_file():
            rec.count(issues, rec.MISSING_IMAGE)
            continue
        dims = rec.image_dims(ann.width, ann.height, ann.image)
        if dims is None:
            rec.count(issues, rec.UNKNOWN_SIZE)
            continue
        boxes, labels, difficult = [], [], []
        for obj in ann.objects:
            if obj.name not in class_of:
                rec.count(issues, rec.UNKNOWN_CLASS)
                continue
            box, reason = rec.clip_box(obj.box, *dims)
            if box is None:
                rec.count(issues, reason or rec.MALFORMED_BOX)
                continue
            boxes.append(box)
            labels.append(class_of[obj.name])
            difficult.append(obj.difficult)
        if not boxes and not keep_empty:
            rec.count(issues, rec.EMPTY_IMAGE)
            continue
        records.append(ImageRecord(ann.image, dims[0], dims[1], *rec.as_targets(boxes, labels), len(records)))
        crowd.append(np.asarray(difficult, bool))
    category_ids = list(range(1, len(names) + 1))
    gt = rec.coco_gt_from_records(records, names, category_ids, crowd)
    return DatasetIndex(records, names, category_ids, issues, f"voc:{annotations}", gt)


def _pairs(images: Path, annotations: Path) -> list[tuple[Path | None, Path]]:
    """(image path or None to use <filename>, xml path) for every annotation."""
    if annotations.is_dir():
        if not images.is_dir():
            raise DatasetError(f"image folder not found: {images}", "give the folder the XML <filename> entries are in")
        xmls = sorted(annotations.glob("*.xml"))
        if not xmls:
            raise DatasetError(f"no .xml files in {annotations}", VOC_HINT)
        return [(None, xml) for xml in xmls]
    if not annotations.is_file():
        raise DatasetError(f"annotation path not found: {annotations}", VOC_HINT)
    try:
        lines = annotations.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read list file {annotations}: {exc}", VOC_HINT) from None
    base, pairs = annotations.parent, []
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DatasetError(
                f"{annotations} line {number}: expected 'image_path xml_path', got {line!r:.80}", VOC_HINT
            )
        pairs.append((base / parts[0], base / parts[1]))
    if not pairs:
        raise DatasetError(f"list file {annotations} has no entries", VOC_HINT)
    return pairs


def _parse(xml: Path, image: Path | None, images: Path) -> _Annotation:
    """The parts of one VOC XML file used here (`image` None: its <filename> in `images`); bad XML is an error."""
    hint = "fix or remove the file (it must be a VOC <annotation> XML)"
    try:
        root = ET.parse(xml).getroot()
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {xml}", VOC_HINT) from None
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(f"malformed XML {xml}: {exc}", hint) from None
    if image is None:
        filename = root.findtext("filename")
        if not filename:
            raise DatasetError(f"{xml} has no <filename>", hint)
        image = images / filename.strip()
    objects = [
        _Object(
            name=(obj.findtext("name") or "").strip(),
            box=[obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")],
            difficult=(obj.findtext("difficult") or "0").strip() == "1",
        )
        for obj in root.iter("object")
    ]
    return _Annotation(image, root.findtext("size/width"), root.findtext("size/height"), objects)
