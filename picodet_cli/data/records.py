"""The in-memory dataset index shared by the COCO and VOC readers, the loaders and the evaluator.

Boxes are float32 `[x1, y1, x2, y2]` in pixels of the original image (pixel edges: a box covering
columns 0..9 is [0, 10]); classes are contiguous 0..C-1, mapped back to `category_ids` for COCO eval.
"""

from __future__ import annotations

import copy
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from picodet_cli.errors import PicodetError

# Skip reasons counted in `DatasetIndex.issues` (one key per kind of problem).
MISSING_IMAGE = "image file missing"
UNKNOWN_SIZE = "image size unreadable"
BAD_SIZE_BOX = "box with non-positive size"
OUTSIDE_BOX = "box outside the image"
MALFORMED_BOX = "malformed box"
UNKNOWN_CLASS = "unknown class"
CROWD_BOX = "crowd box (eval only)"
EMPTY_IMAGE = "image without boxes"
ORPHAN_BOX = "box of an unlisted image"
LABEL_LINE = "malformed label line"
CLIPPED_BOX = "boxes clipped to the image (they extended past its edges)"
IMAGE_REASONS = (MISSING_IMAGE, UNKNOWN_SIZE)  # an image entry that cannot be used at all
NOT_SKIPPED = (CROWD_BOX,)  # counted, but used (for evaluation): not in the warning
EXAMPLES_KEPT = 3  # files named per skip reason


class DatasetError(PicodetError):
    """A dataset cannot be read at all (missing or malformed annotation file, class mismatch)."""


@dataclass
class Tally:
    """Counts by reason, with the first few files named per reason (for one warning, or a report)."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str | None = None, n: int = 1) -> None:
        """Count `n` items for `reason`; `where` (a file name) is kept among the first few examples."""
        self.counts[reason] = self.counts.get(reason, 0) + n
        named = self.examples.setdefault(reason, [])
        if where is not None and len(named) < EXAMPLES_KEPT and where not in named:
            named.append(where)

    def lines(self) -> list[str]:
        """'N reason (file, file, ...)' per reason, largest count first."""
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [f"{n} {reason}{_named(self.examples.get(reason), n)}" for reason, n in ordered if n]


def _named(examples: list[str] | None, n: int) -> str:
    if not examples:
        return ""
    more = ", ..." if n > len(examples) else ""
    return f" ({', '.join(examples)}{more})"


@dataclass
class ImageRecord:
    """One image and its training targets."""

    path: Path
    width: int
    height: int
    boxes: np.ndarray  # [G, 4] float32 xyxy pixels
    classes: np.ndarray  # [G] int64 in 0..C-1
    image_id: int


@dataclass
class DatasetIndex:
    """Images with their targets, class names and COCO category ids, plus counts of skipped items.

    `coco_gt` is the ground truth used for evaluation (from the reader, or a function that builds it when
    asked); when None it is built from the records. It keeps what training does not use (crowd / difficult
    boxes as iscrowd=1).
    `listed` counts the image entries the annotations list (kept or not); `examples` names the first
    files skipped per reason; `notes` counts what was read in a non-default way (VOC images found by the
    XML's stem, YOLO background images).
    """

    records: list[ImageRecord]
    class_names: list[str]
    category_ids: list[int]
    issues: dict[str, int]
    source: str
    coco_gt: dict[str, Any] | Callable[[], dict[str, Any]] | None = field(default=None, repr=False)
    listed: int = -1
    examples: dict[str, list[str]] = field(default_factory=dict, repr=False)
    notes: Tally = field(default_factory=Tally, repr=False)

    def __post_init__(self) -> None:
        if self.listed < 0:
            self.listed = len(self.records) + sum(self.issues.get(r, 0) for r in (*IMAGE_REASONS, EMPTY_IMAGE))

    def __len__(self) -> int:
        return len(self.records)

    def to_coco_gt(self) -> dict[str, Any]:
        """A fresh COCO ground-truth dict restricted to the images in `records`."""
        if self.coco_gt is None:
            return coco_gt_from_records(self.records, self.class_names, self.category_ids)
        gt = self.coco_gt() if callable(self.coco_gt) else self.coco_gt
        kept = {r.image_id for r in self.records}
        return {
            "images": [dict(img) for img in gt["images"] if img["id"] in kept],
            "annotations": [copy.deepcopy(a) for a in gt["annotations"] if a["image_id"] in kept],
            "categories": [dict(c) for c in gt["categories"]],
        }

    def summary(self) -> str:
        """One line: image, box and class counts, then what was skipped."""
        boxes = sum(len(r.boxes) for r in self.records)
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.issues.items()) if n) or "nothing"
        return (
            f"{self.source}: {len(self.records)} images, {boxes} boxes, {len(self.class_names)} classes; "
            f"skipped: {skipped}"
        )

    def unusable(self) -> int:
        """Listed images that cannot be used at all (missing, or their size unreadable)."""
        return sum(self.issues.get(r, 0) for r in IMAGE_REASONS)

    def warning(self) -> str | None:
        """One message: what was skipped (counts by reason, first files named), then the notes."""
        parts = []
        shown = {k: v for k, v in self.issues.items() if k not in NOT_SKIPPED}
        skipped = Tally(shown, self.examples).lines()
        if skipped:
            parts.append(f"{self.source}: skipped {'; '.join(skipped)}")
        notes = self.notes.lines()
        if notes:
            parts.append(f"{self.source}: {'; '.join(notes)}")
        return " | ".join(parts) or None


def coco_gt_from_records(
    records: list[ImageRecord], class_names: list[str], category_ids: list[int], crowd: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """COCO ground truth from records; `crowd[i]` flags boxes of record i to mark iscrowd=1 (ignored in eval)."""
    images, annotations = [], []
    for i, rec in enumerate(records):
        images.append({"id": rec.image_id, "file_name": rec.path.name, "width": rec.width, "height": rec.height})
        flags = crowd[i] if crowd is not None else np.zeros(len(rec.boxes), bool)
        for (x1, y1, x2, y2), cls, is_crowd in zip(
            rec.boxes.tolist(), rec.classes.tolist(), flags.tolist(), strict=True
        ):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": rec.image_id,
                    "category_id": category_ids[cls],
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": int(is_crowd),
                }
            )
    categories = [{"id": cid, "name": name} for cid, name in zip(category_ids, class_names, strict=True)]
    return {"images": images, "annotations": annotations, "categories": categories}


def clip_box(box: Any, width: int, height: int) -> tuple[list[float] | None, str | None]:
    """`[x1, y1, x2, y2]` clipped to the image, or (None, skip reason) for a malformed, empty or outside box."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return None, MALFORMED_BOX
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return None, MALFORMED_BOX
    if x2 <= x1 or y2 <= y1:
        return None, BAD_SIZE_BOX
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 <= x1 or y2 <= y1:
        return None, OUTSIDE_BOX
    return [x1, y1, x2, y2], None


def clip_counted(box: Any, width: int, height: int, skips: Tally, notes: Tally, where: str) -> list[float] | None:
    """`clip_box`, counting a skipped box in `skips` and a box that had to be clipped in `notes`."""
    clipped, reason = clip_box(box, width, height)
    if clipped is None:
        skips.add(reason or MALFORMED_BOX, where)
    elif (clipped[0] <= 0 or clipped[1] <= 0 or clipped[2] >= width or clipped[3] >= height) and any(
        abs(float(a) - b) > 0.01 for a, b in zip(box, clipped, strict=True)
    ):
        notes.add(CLIPPED_BOX, where)
    return clipped


def as_targets(boxes: list[list[float]], classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Box and class lists as the record arrays ([G, 4] float32, [G] int64), also when empty."""
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64).reshape(-1)


_SOF = frozenset((*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)))
_NO_LENGTH = frozenset((0x01, *range(0xD0, 0xD8)))
HEAD_BYTES = 8192  # read at once: a JPEG's start-of-frame is almost always within it


def image_size(path: Path | str) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding; other formats are decoded. None if unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(head, handle)
    except (OSError, struct.error):
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return (int(image.shape[1]), int(image.shape[0])) if image is not None else None


def _jpeg_size(head: bytes, handle: Any) -> tuple[int, int] | None:
    """Walk JPEG markers up to the first start-of-frame and read its size (in `head`, then on in the file)."""
    base, at = 0, 2  # head[0] is at file offset base
    while True:
        if at + 9 > len(head):  # past what was read: read on from the file
            base += at
            handle.seek(base)
            head, at = handle.read(HEAD_BYTES), 0
            if len(head) < 2:
                return None
        if head[at] != 0xFF:
            return None
        kind = head[at + 1]
        if kind == 0xFF:  # fill byte
            at += 1
            continue
        if kind in _NO_LENGTH:
            at += 2
            continue
        if at + 9 > len(head):
            return None
        (length,) = struct.unpack_from(">H", head, at + 2)
        if kind in _SOF:
            height, width = struct.unpack_from(">HH", head, at + 5)
            return (width, height) if width and height else None
        at += 2 + length


def image_dims(entry_w: Any, entry_h: Any, path: Path) -> tuple[int, int] | None:
    """(width, height) from annotation values when they are positive numbers, else from the file header."""
    try:
        width, height = int(float(entry_w)), int(float(entry_h))
    except (TypeError, ValueError, OverflowError):
        width = height = 0
    if width > 0 and height > 0:
        return width, height
    return image_size(path)


def count(issues: dict[str, int], reason: str, n: int = 1) -> None:
    """Add `n` to the count of a skip reason."""
    issues[reason] = issues.get(reason, 0) + n


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # what VOC and YOLO tools look for
