"""The dataset annotation formats: name -> reader ("module:function"), plain data so the recipe schema can list
them without importing the readers. Adding a format = one entry here + its reader module in `data/`."""

from __future__ import annotations

READERS: dict[str, str] = {
    "coco": "picodet_cli.data.coco:read_coco",
    "voc": "picodet_cli.data.voc:read_voc",
    "yolo": "picodet_cli.data.yolo:read_yolo",
}
