"""Simplified ONNX -> .mnn with the converter inside the MNN wheel, in a child process.

`MNN.tools.mnnconvert` is never imported: it pip-installs a package and sends telemetry. The C++ entry
point `_tools.mnnconvert` (importable after `import MNN`) is called directly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..errors import PicodetError
from ..runtimes.mnn import MnnRuntime

MNN_SCRIPT = """
import sys
import MNN  # noqa: F401  (makes _tools importable)
import _tools
_tools.mnnconvert(sys.argv[1:])
"""


def export_mnn(onnx_path: Path, out_path: Path, fp16: bool) -> Path:
    """Convert `onnx_path` to `out_path` (weights stored as FP16 with `fp16`)."""
    MnnRuntime.require()
    args = ["mnnconvert", "-f", "ONNX", "--modelFile", str(onnx_path), "--MNNModel", str(out_path)]
    args += ["--bizCode", "picodet", *(["--fp16"] if fp16 else [])]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", MNN_SCRIPT, *args], capture_output=True, text=True)
    if "Converted Success" not in proc.stdout or not out_path.is_file():
        lines = (proc.stderr + proc.stdout).strip().splitlines()
        raise PicodetError(f"MNN conversion failed: {lines[-1] if lines else proc.returncode}", "check the ONNX file")
    return out_path
