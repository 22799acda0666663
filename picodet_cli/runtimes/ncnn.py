"""ncnn adapter (pnnx blob names in0.. / out0..; FP32 artifacts run with every fp16 option off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime


class NcnnRuntime(Runtime):
    name = "ncnn"
    module = "ncnn"
    pip = "ncnn"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        import ncnn

        net = ncnn.Net()
        net.opt.num_threads = threads
        net.opt.use_fp16_packed = net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = fp16
        if net.load_param(str(path)) or net.load_model(str(path.with_suffix(".bin"))):
            from ..errors import PicodetError

            raise PicodetError(f"ncnn cannot load {path}", "export the model again")
        self.session = net
        return net

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        import ncnn

        extractor = self.session.create_extractor()
        for name, array in zip(self.session.input_names(), inputs.values(), strict=True):
            extractor.input(name, ncnn.Mat(np.ascontiguousarray(array[0])))  # ncnn has no batch axis
        return [np.array(extractor.extract(name)[1])[None] for name in self.session.output_names()]


def benchncnn_arguments(files: list[str], size: int, threads: int, warmup: int, runs: int, affinity: str) -> list[str]:
    """ncnn `benchncnn` arguments (`bench --adb`): loops, threads, powersave, GPU off, cooling down off."""
    powersave = {"all": 0, "little": 1, "big": 2}.get(affinity, 0)
    return [str(runs), str(threads), str(powersave), "-1", "0", f"param={files[0]}", f"shape=[{size},{size},3]"]
