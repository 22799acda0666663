"""Simplified ONNX -> OpenVINO IR (model.xml + model.bin; FP16-compressed weights with `fp16`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtimes.openvino import OpenVinoRuntime


def write(ctx: Any) -> list[Path]:
    """The `openvino` format, from the ONNX file."""
    return export_openvino(ctx.needed("onnx")[0], ctx.folder / "model.xml", ctx.options.fp16)


def export_openvino(onnx_path: Path, out_path: Path, fp16: bool) -> list[Path]:
    """Convert `onnx_path` and save it as `out_path` (.xml) plus its .bin."""
    OpenVinoRuntime.require()
    import openvino as ov

    out_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(str(onnx_path)), str(out_path), compress_to_fp16=fp16)
    return [out_path, out_path.with_suffix(".bin")]
