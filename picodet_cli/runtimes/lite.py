"""Paddle-Lite adapter: x86 .nb files through the py3.10 toolchain's `run_lite` (inputs in graph order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime

NB_META_VERSION = b"\x02\x00"  # a .nb file starts with this uint16, then the Paddle-Lite version ("v2.13-rc")


class LiteRuntime(Runtime):
    name = "lite"
    module = "picodet_cli.export.lite"
    pip = "paddlelite==2.13rc0 (needs a Python 3.10 toolchain)"

    @classmethod
    def available(cls) -> bool:
        if not super().available():
            return False
        from ..export import lite

        return hasattr(lite, "run_lite") and hasattr(lite, "export_lite")

    def version(self) -> str:
        return getattr(self, "measured_version", "2.13rc0")

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        """Check the naive-buffer header (each run is a toolchain process: a broken file fails there, later)."""
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head[:2] != NB_META_VERSION or head[2:4] != b"v2":
            raise ValueError(f"not a Paddle-Lite naive-buffer model (header {head.hex() or 'empty'})")
        self.session = path
        return path

    def time_runs(
        self, tensors: list[np.ndarray], warmup: int, runs: int
    ) -> tuple[list[float], list[list[np.ndarray]]] | None:
        """Every run in one toolchain process (`run` starts a process per call)."""
        from ..bench.lite_host import time_lite

        seconds, outputs, self.measured_version = time_lite(self.session, tensors, warmup, runs)
        return seconds, outputs

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        from ..export.lite import run_lite

        return [np.asarray(o) for o in run_lite(self.session, *inputs.values())]


def benchmark_bin_arguments(
    files: list[str], size: int, threads: int, warmup: int, runs: int, affinity: str
) -> list[str]:
    """Paddle-Lite `benchmark_bin` arguments (`bench --adb`); a hex CPU mask runs under taskset (power mode 3)."""
    power = {"big": 0, "little": 1, "all": 2}.get(affinity, 3)
    return [
        f"--optimized_model_path={files[0]}", f"--input_shape=1,3,{size},{size}", f"--warmup={warmup}",
        f"--repeats={runs}", f"--threads={threads}", f"--power_mode={power}",
    ]  # fmt: skip
