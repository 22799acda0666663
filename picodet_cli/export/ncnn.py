"""Simplified ONNX -> ncnn param/bin with the standalone pnnx binary (fp16=1 stores FP16 weights)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import PicodetError


def export_ncnn(onnx_path: Path, out_dir: Path, input_size: int, fp16: bool) -> list[Path]:
    """Write `model.ncnn.param` + `model.ncnn.bin` into `out_dir`; pnnx's side files stay in a temp folder."""
    from ..toolchain.pnnx import pnnx_binary

    binary = pnnx_binary()
    with tempfile.TemporaryDirectory(prefix="picodet-pnnx-") as tmp:
        work = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, work)
        shape = f"inputshape=[1,3,{input_size},{input_size}]"
        proc = subprocess.run(
            [str(binary), work.name, shape, f"fp16={int(fp16)}"], cwd=tmp, capture_output=True, text=True
        )
        param, weights = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if proc.returncode != 0 or not param.is_file():
            detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise PicodetError(f"pnnx failed: {detail}", "check the ONNX file with onnxruntime first")
        out_dir.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.move(str(p), out_dir / p.name)) for p in (param, weights)]
