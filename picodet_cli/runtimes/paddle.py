"""Paddle Inference adapter (CPU, oneDNN on; interpolation ops kept off oneDNN kernels).

paddle 3.3.1's oneDNN `*_interp` ops carry a `scale` attribute (an array of doubles) that the oneDNN
instruction cannot convert, so a program holding one fails at run time with oneDNN fully on. For such programs
the placement pass is deleted: every op stays on the plain CPU kernels, which with `enable_mkldnn` are still
faster than with `disable_mkldnn` (measured 1.7-2.9x on S-416, same outputs). Programs without them (picodet's
Paddle export upsamples by reshape + expand) get oneDNN kernels: 1.27x faster on S-416 here. Legacy `.pdmodel`
programs (the INT8 models) run without oneDNN: its fusion passes fail on them in paddle 3.3.1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime

ONEDNN_PLACEMENT = "onednn_placement_pass"  # the PIR pass that moves ops to oneDNN kernels
ONEDNN_BROKEN_OPS = re.compile(r'"1\.\w+_interp"')  # PIR json op names that fail on oneDNN in 3.3.1


def onednn_kernels_work(model_json: Path) -> bool:
    """Whether the PIR program at `model_json` holds no op that fails on oneDNN (see module docstring)."""
    return ONEDNN_BROKEN_OPS.search(model_json.read_text(encoding="utf-8", errors="replace")) is None


class PaddleRuntime(Runtime):
    name = "paddle"
    module = "paddle"
    pip = "paddlepaddle"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        from paddle import inference

        params = path.with_suffix(".pdiparams")
        config = inference.Config(str(path), str(params))
        if path.suffix == ".pdmodel":
            config.disable_mkldnn()  # legacy programs (INT8, paddle 2.6 saves): oneDNN fusions break them in 3.3.1
        else:
            config.enable_mkldnn()
            if not onednn_kernels_work(path):
                config.delete_pass(ONEDNN_PLACEMENT)
        config.disable_glog_info()
        config.set_cpu_math_library_num_threads(threads)
        self.session = inference.create_predictor(config)
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        for name in self.session.get_input_names():
            self.session.get_input_handle(name).copy_from_cpu(np.ascontiguousarray(inputs[name]))
        self.session.run()
        return [self.session.get_output_handle(n).copy_to_cpu() for n in self.session.get_output_names()]
