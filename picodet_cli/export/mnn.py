"""Simplified ONNX -> .mnn with the converter inside the MNN wheel, in a child process.

`MNN.tools.mnnconvert` is never imported: it pip-installs a package and sends telemetry. The C++ entry
point `_tools.mnnconvert` (importable after `import MNN`) is called directly.

MNN's `--fp16` casts weights to half precision by truncation (round toward zero, measured with MNN 3.6.1):
every weight shrinks a little, the bias compounds through the network and scores end up ~3e-2 off (8x
what half-precision storage costs). So for `--fp16` the weights are first rounded to the nearest half in a
temporary ONNX copy; truncating a value that is already a half is exact.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from ..runtimes.mnn import MnnRuntime

MNN_SCRIPT = """
import sys
import MNN  # noqa: F401  (makes _tools importable)
import _tools
_tools.mnnconvert(sys.argv[1:])
"""
HALF_MAX = 65504.0


def write(ctx: Any) -> list[Path]:
    """The `mnn` format, from the ONNX file."""
    with ctx.scratch() as work:
        return [export_mnn(ctx.needed("onnx")[0], ctx.folder / "model.mnn", ctx.options.fp16, work)]


def export_mnn(onnx_path: Path, out_path: Path, fp16: bool, workdir: Path | None = None) -> Path:
    """Convert `onnx_path` to `out_path` (weights stored as FP16 with `fp16`; temp files inside `workdir`)."""
    MnnRuntime.require()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="picodet-mnn-", dir=workdir) as tmp:
        source = round_weights_to_half(onnx_path, Path(tmp) / "model.onnx") if fp16 else onnx_path
        args = ["mnnconvert", "-f", "ONNX", "--modelFile", str(source), "--MNNModel", str(out_path)]
        args += ["--bizCode", "picodet", *(["--fp16"] if fp16 else [])]
        proc = subprocess.run([sys.executable, "-c", MNN_SCRIPT, *args], capture_output=True, text=True)
    if "Converted Success" not in proc.stdout or not out_path.is_file():
        lines = (proc.stderr + proc.stdout).strip().splitlines()
        raise PicodetError(f"MNN conversion failed: {lines[-1] if lines else proc.returncode}", "check the ONNX file")
    return out_path


def round_weights_to_half(onnx_path: Path, out_path: Path) -> Path:
    """Copy `onnx_path` with every float32 initializer rounded to the nearest float16 value (kept as float32)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            values = numpy_helper.to_array(init)
            halves = np.clip(values, -HALF_MAX, HALF_MAX).astype(np.float16).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(np.where(np.abs(values) <= HALF_MAX, halves, values), init.name))
    onnx.save(model, str(out_path))
    return out_path
