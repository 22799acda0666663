"""OpenVINO adapter (CPU; FP32 artifacts run with INFERENCE_PRECISION_HINT f32, not the CPU's bf16 default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime


class OpenVinoRuntime(Runtime):
    name = "openvino"
    module = "openvino"
    pip = "openvino"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        import openvino as ov

        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
        if not fp16:
            config["INFERENCE_PRECISION_HINT"] = "f32"
        self.session = ov.Core().compile_model(str(path), "CPU", config)
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = self.session(inputs)
        return [np.asarray(result[o]) for o in self.session.outputs]
