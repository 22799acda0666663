"""Paddle Inference adapter (CPU, oneDNN off: it crashes on PicoDet graphs in paddle 3.3.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime


class PaddleRuntime(Runtime):
    name = "paddle"
    module = "paddle"
    pip = "paddlepaddle"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        from paddle import inference

        params = path.with_suffix(".pdiparams")
        config = inference.Config(str(path), str(params))
        config.disable_mkldnn()
        config.disable_glog_info()
        config.set_cpu_math_library_num_threads(threads)
        self.session = inference.create_predictor(config)
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name in self.session.get_input_names():
            self.session.get_input_handle(name).copy_from_cpu(np.ascontiguousarray(inputs[name]))
        self.session.run()
        return [self.session.get_output_handle(n).copy_to_cpu() for n in self.session.get_output_names()]
