"""One entry point for reading a detection dataset in any supported annotation format."""

from __future__ import annotations

import logging
from pathlib import Path

from picodet_cli.data.coco import read_coco
from picodet_cli.data.records import DatasetError, DatasetIndex
from picodet_cli.data.voc import read_voc
from picodet_cli.data.yolo import read_yolo

READERS = {"coco": read_coco, "voc": read_voc, "yolo": read_yolo}
log = logging.getLogger(__name__)


def read_dataset(
    format: str,
    images: Path,
    annotations: Path,
    classes: list[str] | None = None,
    keep_empty: bool = True,
    warn: bool = True,
) -> DatasetIndex:
    """Read a `coco`, `voc` or `yolo` dataset. `keep_empty` False drops images without boxes (the original's training).

    With `warn`, what was skipped (and images found by a fallback rule) is logged as one warning, the way the
    data layer's warnings reach the CLI; callers that report the index themselves pass False.
    """
    reader = READERS.get(str(format).lower())
    if reader is None:
        raise DatasetError(f"unknown dataset format {format!r}", f"use one of: {', '.join(READERS)}")
    index = reader(Path(images), Path(annotations), classes, keep_empty)
    message = index.warning() if warn else None
    if message:
        log.warning("%s", message)
    return index
