"""MNN adapter (Module API, CPU, high precision unless the artifact is FP16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime, quiet_stdout


class MnnRuntime(Runtime):
    name = "mnn"
    module = "MNN"
    pip = "MNN"

    def version(self) -> str:
        with quiet_stdout():
            import MNN

            return str(MNN.version())

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        with quiet_stdout():
            import MNN

            config = {"backend": "CPU", "numThread": threads, "precision": "low" if fp16 else "high"}
            manager = MNN.nn.create_runtime_manager((config,))
            self.session = MNN.nn.load_module_from_file(str(path), [], [], runtime_manager=manager)
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        import MNN

        with quiet_stdout():
            tensors = [MNN.expr.const(np.ascontiguousarray(a), list(a.shape), MNN.expr.NCHW) for a in inputs.values()]
            outputs = self.session.onForward(tensors)
            return [np.array(MNN.expr.convert(o, MNN.expr.NCHW).read()) for o in outputs]


def benchmark_out_arguments(
    files: list[str], size: int, threads: int, warmup: int, runs: int, affinity: str
) -> list[str]:
    """MNN `benchmark.out` arguments (`bench --adb`): model folder, loops, warm-up, CPU, threads, high precision."""
    return [".", str(runs), str(warmup), "0", str(threads), "1"]
