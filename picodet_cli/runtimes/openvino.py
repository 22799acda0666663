"""OpenVINO adapter (CPU). Execution precision is chosen, never the CPU plugin's default (bf16 where the CPU has it):
FP32 artifacts run in f32; FP16 artifacts in f16 where the CPU computes in half precision, else in f32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime
from .signal_stack import restored_signal_stack


class OpenVinoRuntime(Runtime):
    name = "openvino"
    module = "openvino"
    pip = "openvino"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        import openvino as ov

        with restored_signal_stack():
            core = ov.Core()
            precision = "f16" if fp16 and "FP16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
            config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision}
            self.session = core.compile_model(str(path), "CPU", config)
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        with restored_signal_stack():  # the first inference on a thread sets up the plugin's stack
            result = self.session(inputs)
        return [np.asarray(result[o]) for o in self.session.outputs]
