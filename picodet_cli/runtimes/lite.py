"""Paddle-Lite adapter: x86 .nb files through the py3.10 toolchain's `run_lite` (inputs in graph order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Runtime


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
        return "2.13rc0"

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        self.session = path
        return path

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        from ..export.lite import run_lite

        return [np.asarray(o) for o in run_lite(self.session, *inputs.values())]
