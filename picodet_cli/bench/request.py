"""A benchmark request (from flags, a recipe's [bench] section or Python): everything `bench` needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BenchRequest:
    """What to benchmark and how; `bench.api.bench` checks it before any work."""

    model: str  # zoo name, architecture (with weights), run weights file, export or quantize folder
    weights: str | None = None
    formats: str = "all"
    device: str = "cpu"  # cpu | arm
    threads: int | None = None  # default: all cores
    imgsz: int | None = None
    fp16: bool = False
    warmup: int = 5
    runs: int = 50
    data: Any = None  # for mAP: a recipe or COCO json path (json images in `images`), or a ready DatasetIndex
    images: Path | None = None
    overrides: list[str] = field(default_factory=list)  # `--set key=value` for a recipe given as `data`
    adb: str | None = None  # device serial ("" for the only connected device); needs device="arm"
    emulate: bool = False  # aarch64 runtimes under qemu-user (device="arm")
    emulate_cpu: str | None = None
    runners: list[Path] = field(default_factory=list)  # device benchmark executables
    affinity: str = "big"
    verify: bool = True  # verify fresh exports against the Paddle model
    export_dir: Path | None = None  # an export folder of these same weights: its formats are benchmarked as they are
    quant_dir: Path | None = None  # a `picodet quantize` folder of these same weights: INT8 rows beside the FP32 ones
    cache_dir: Path | None = None
    command: list[str] | None = None  # the command line recorded in the report
