"""One entry point for reading a detection dataset in any supported annotation format."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from picodet_cli.data.formats import READERS
from picodet_cli.data.records import DatasetError, DatasetIndex

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
    target = READERS.get(str(format).lower())
    if target is None:
        raise DatasetError(f"unknown dataset format {format!r}", f"use one of: {', '.join(READERS)}")
    module, name = target.split(":")
    reader = getattr(importlib.import_module(module), name)
    index = reader(Path(images), Path(annotations), classes, keep_empty)
    message = index.warning() if warn else None
    if message:
        log.warning("%s", message)
    return index
