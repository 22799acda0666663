"""Read Pascal-VOC XML annotations (a folder of XML files or a list file) into a `DatasetIndex`.

Each image is found as VOC tools find it: the XML's `<filename>` in the image folder (or the list file's image
path), else the XML's stem with any common image extension in that folder, else the XML's `<path>`; images
found by the second or third rule are counted and named in the index's warning.
`difficult` objects are training targets (as the original VOC reader) but are marked iscrowd=1 in the
evaluation ground truth, so COCO eval ignores them like the VOC metric does (neither hit nor miss).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picodet_cli.data import records as rec
from picodet_cli.data.records import IMAGE_SUFFIXES, DatasetError, DatasetIndex, ImageRecord, Tally

VOC_HINT = "give a folder of VOC XML files or a list file of 'image_path xml_path' lines"
BY_STEM = "images found by the XML's stem, not its <filename>"
BY_PATH = "images found by the XML's <path>, not its <filename>"


@dataclass
class _Object:
    name: str
    box: list[str | None]  # xmin, ymin, xmax, ymax as written
    difficult: bool


@dataclass
class _Annotation:
    xml: Path
    image: Path | None  # None: not found by any rule
    width: str | None
    height: str | None
    objects: list[_Object]


@dataclass
class _Finder:
    """Finds an annotation's image by the three VOC rules, listing each image folder once."""

    found: Tally = field(default_factory=Tally)
    listings: dict[Path, dict[str, str]] = field(default_factory=dict)

    def _names(self, folder: Path) -> dict[str, str]:
        """Lower-cased file name -> actual name, for the files of `folder` (empty if it cannot be listed)."""
        if folder not in self.listings:
            try:
                self.listings[folder] = {name.lower(): name for name in os.listdir(folder)}
            except OSError:
                self.listings[folder] = {}
        return self.listings[folder]

    def find(self, xml: Path, named: Path, path_text: str | None) -> Path | None:
        """`named` (<filename> or the list file's image) if it exists, else the XML stem with an image suffix,
        else <path>."""
        names = self._names(named.parent)
        if names.get(named.name.lower()) == named.name or named.is_file():
            return named
        for suffix in IMAGE_SUFFIXES:
            actual = names.get(f"{xml.stem}{suffix}".lower())
            if actual is not None:
                self.found.add(BY_STEM, f"{xml.name}: {named.name} -> {actual}")
                return named.parent / actual
        if path_text:
            candidate = Path(path_text.strip().replace("\\", "/"))
            candidate = candidate if candidate.is_absolute() else xml.parent / candidate
            if candidate.is_file():
                self.found.add(BY_PATH, f"{xml.name}: {named.name} -> {candidate}")
                return candidate
        return None


def read_voc(
    images: Path, annotations: Path, classes: list[str] | None = None, keep_empty: bool = True
) -> DatasetIndex:
    """Index VOC annotations; `classes` None infers the sorted unique object names.

    With a folder of XML files, each XML's <filename> is looked up in `images`. With a list file,
    its lines are `image_path xml_path` relative to the list file's folder (`images` is not used).
    Either way the fallback rules of the module docstring apply.
    """
    images, annotations = Path(images), Path(annotations)
    pairs = _pairs(images, annotations)
    finder = _Finder()
    parsed = [_parse(xml, image, images, finder) for image, xml in pairs]
    names = list(classes) if classes is not None else sorted({o.name for a in parsed for o in a.objects})
    if len(set(names)) != len(names) or not names:
        raise DatasetError(f"invalid class list {names!r:.120}", "give distinct class names, at least one")
    class_of = {name: i for i, name in enumerate(names)}
    skips = Tally()
    records, crowd = [], []
    for ann in parsed:
        if ann.image is None:
            skips.add(rec.MISSING_IMAGE, ann.xml.name)
            continue
        dims = rec.image_dims(ann.width, ann.height, ann.image)
        if dims is None:
            skips.add(rec.UNKNOWN_SIZE, ann.image.name)
            continue
        boxes, labels, difficult = [], [], []
        for obj in ann.objects:
            if obj.name not in class_of:
                skips.add(rec.UNKNOWN_CLASS, f"{ann.xml.name}: {obj.name}")
                continue
            box = rec.clip_counted(obj.box, *dims, skips, finder.found, ann.xml.name)
            if box is None:
                continue
            boxes.append(box)
            labels.append(class_of[obj.name])
            difficult.append(obj.difficult)
        if not boxes and not keep_empty:
            skips.add(rec.EMPTY_IMAGE, ann.xml.name)
            continue
        records.append(ImageRecord(ann.image, dims[0], dims[1], *rec.as_targets(boxes, labels), len(records)))
        crowd.append(np.asarray(difficult, bool))
    category_ids = list(range(1, len(names) + 1))
    gt = rec.coco_gt_from_records(records, names, category_ids, crowd)
    source = f"voc:{annotations}"
    return DatasetIndex(
        records, names, category_ids, skips.counts, source, gt, len(parsed), skips.examples, notes=finder.found
    )


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


def _parse(xml: Path, image: Path | None, images: Path, finder: _Finder) -> _Annotation:
    """The parts of one VOC XML file used here (`image` None: its <filename> in `images`); bad XML is an error."""
    hint = "fix or remove the file (it must be a VOC <annotation> XML)"
    try:
        root = ET.parse(xml).getroot()
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {xml}", VOC_HINT) from None
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(f"malformed XML {xml}: {exc}", hint) from None
    if image is None:
        filename = (root.findtext("filename") or "").strip()
        image = images / (filename or f"{xml.stem}.jpg")  # no <filename>: the stem rule decides
    objects = [
        _Object(
            name=(obj.findtext("name") or "").strip(),
            box=[obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")],
            difficult=(obj.findtext("difficult") or "0").strip() == "1",
        )
        for obj in root.iter("object")
    ]
    found = finder.find(xml, image, root.findtext("path"))
    return _Annotation(xml, found, root.findtext("size/width"), root.findtext("size/height"), objects)
