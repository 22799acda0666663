"""onnxruntime adapter (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    module = "onnxruntime"
    pip = "onnxruntime"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting worker threads between runs: they would steal the CPU from whatever runs next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self.session

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in self.session.run(None, inputs)]

    def metadata(self) -> dict[str, str]:
        """The ONNX file's metadata_props."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    def shapes(self) -> tuple[list[Any], list[list[Any]]]:
        """Shape of the image input (the one named `image`, else the first) and every output shape (ints, or
        strings for dynamic axes); PaddleDetection's exports with post-processing list `im_shape` first."""
        inputs = self.session.get_inputs()
        image = next((i for i in inputs if i.name == "image"), inputs[0])
        return list(image.shape), [list(o.shape) for o in self.session.get_outputs()]
