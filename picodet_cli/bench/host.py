"""The machine a benchmark ran on: CPU, OS, Python and the versions of every runtime package."""

from __future__ import annotations

import platform
import shlex
import sys
from typing import Any

PACKAGES = ("picodet", "paddlepaddle", "onnxruntime", "openvino", "MNN", "ncnn", "numpy", "paddle2onnx", "onnxsim")


def environment(command: list[str] | None = None) -> dict[str, Any]:
    """Host CPU model, core count, OS, Python, package versions and the command line."""
    from ..toolchain.doctor import cpu_info, package_version

    cpu = cpu_info()
    return {
        "cpu": cpu["model"],
        "arch": cpu["arch"],
        "cores": cpu["cores"],
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "command": shlex.join(command if command is not None else sys.argv),
    }
