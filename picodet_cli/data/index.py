"""One entry point for reading a detection dataset in any supported annotation format."""

from __future__ import annotations

from pathlib import Path

from picodet_cli.data.coco import read_coco
from picodet_cli.data.records import DatasetError, DatasetIndex
from picodet_cli.data.voc import read_voc

READERS = {"coco": read_coco, "voc": read_voc}


def read_dataset(
    format: str, images: Path, annotations: Path, classes: list[str] | None = None, keep_empty: bool = True
) -> DatasetIndex:
    """Read a `coco` or `voc` dataset. `keep_empty` False drops images without boxes (the original's training)."""
    reader = READERS.get(str(format).lower())
    if reader is None:
        raise DatasetError(f"unknown dataset format {format!r}", f"use one of: {', '.join(READERS)}")
    return reader(Path(images), Path(annotations), classes, keep_empty)
