"""Simplified ONNX -> ncnn param/bin with the standalone pnnx binary (fp16=1 stores FP16 weights)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PicodetError


def write(ctx: Any) -> list[Path]:
    """The `ncnn` format, from the ONNX file (pnnx works in scratch space)."""
    with ctx.scratch() as work:
        return export_ncnn(ctx.needed("onnx")[0], ctx.folder, ctx.input_size, ctx.options.fp16, work)


def export_ncnn(onnx_path: Path, out_dir: Path, input_size: int, fp16: bool, workdir: Path | None = None) -> list[Path]:
    """Write `model.ncnn.param` + `model.ncnn.bin` into `out_dir`; pnnx's side files stay in a temp folder (inside
    `workdir` when given)."""
    from ..toolchain.pnnx import pnnx_binary

    binary = pnnx_binary()
    with tempfile.TemporaryDirectory(prefix="picodet-pnnx-", dir=workdir) as tmp:
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
