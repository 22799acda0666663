"""Write the FP32 reference exports and every INT8 artifact of one quantization run into its output folder.

Layout of `out_dir`:
  fp32/paddle/model.json       FP32 Paddle inference model (the latency baseline of Paddle Inference)
  fp32/legacy/model.pdmodel    FP32 legacy program (what paddle 2.6.2 quantizes for PTQ; legacy toolchain)
  paddle_int8/model.pdmodel    Paddle INT8 program (Paddle's fake-quant format; Paddle Inference), + picodet.json
  fp32/onnx/model.onnx         FP32 ONNX, opset 14, channels padded (what both INT8 quantizers start from)
  onnx_int8/model.onnx         INT8 QDQ ONNX in onnxruntime's fused form (onnx_int8.py), metadata embedded
  openvino_int8/model.xml      OpenVINO INT8 IR by NNCF (nncf_int8.py), + picodet.json
  lite_int8/model_<target>.nb  Paddle-Lite INT8 (arm to deploy, x86 to verify here), + picodet.json
Without the legacy toolchain (offline and not installed) only the FP32 Paddle/ONNX and the ONNX/OpenVINO INT8
models are written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..export.metadata import build_metadata, write_sidecar

Progress = Callable[[str], None]


def artifact_meta(model: Any, name: str, class_names: list[str], fmt: str) -> dict[str, Any]:
    """Metadata of an artifact of `model` (deploy layout, FP32 I/O)."""
    return build_metadata(model, name, class_names, "none", fmt, False)


def model_job(model: Any) -> dict[str, Any]:
    """The fields a legacy worker job needs to rebuild `model`."""
    return {"arch": asdict(model.arch), "num_classes": model.num_classes, "input_size": model.input_size}


def export_fp32(model: Any, name: str, class_names: list[str], out_dir: Path) -> dict[str, Path]:
    """FP32 Paddle inference model and ONNX of `model` under `out_dir/fp32` (main environment only).

    The ONNX is the export pipeline's graph for the ONNX-based formats (channels padded to the SIMD width) at
    the exports' opset (`DEFAULT_OPSET`: hard-swish one op); it is what both INT8 quantizers start from.
    """
    from ..export.formats import DEFAULT_OPSET
    from ..export.layout import pad_channels
    from ..export.onnx import onnx_of_layer
    from ..export.paddle_inference import export_paddle

    fp32 = out_dir / "fp32"
    model.eval()
    paddle_files = export_paddle(model, fp32 / "paddle", model.input_size, "none")
    write_sidecar(fp32 / "paddle", artifact_meta(model, name, class_names, "paddle"))
    onnx_path = fp32 / "onnx" / "model.onnx"
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="picodet-onnx-src-") as tmp:
        meta = artifact_meta(model, name, class_names, "onnx")
        onnx_of_layer(pad_channels(model), model.input_size, "none", DEFAULT_OPSET, meta, onnx_path, Path(tmp))
    return {"paddle": paddle_files[0], "onnx": onnx_path}


def export_legacy(job: dict[str, Any], weights: Path, digest: str, out_dir: Path) -> Path:
    """The FP32 legacy program of the network `job` describes (`model_job`) with the saved `weights` (whose
    `state_digest` is `digest`) -> `out_dir/fp32/legacy/model.pdmodel` (legacy toolchain, paddle 2.6.2). No Paddle
    call here: it may run in a background thread."""
    from ..export.lite import save_legacy_program
    from ..toolchain.legacy import work_dir

    legacy = out_dir / "fp32" / "legacy"
    with work_dir(out_dir) as work:
        save_legacy_program({**job, "postprocess": "none"}, weights, legacy, work, digest)
    return legacy / "model.pdmodel"


def paddle_int8_ptq(
    legacy_model: Path, calib: np.ndarray, out_dir: Path, algo: str, hist_percent: float, batch_size: int
) -> dict[str, Any]:
    """PTQ of the legacy FP32 program in the legacy toolchain -> `out_dir/paddle_int8`."""
    from ..toolchain.legacy import run_job, work_dir
    from . import PTQ_OP_TYPES

    with work_dir(out_dir) as work:
        np.save(work / "calib.npy", calib)
        job = {
            "action": "ptq", "model": str(legacy_model.resolve()),
            "params": str(legacy_model.with_suffix(".pdiparams").resolve()),
            "calib": str(work / "calib.npy"), "batch_size": batch_size, "algo": algo, "hist_percent": hist_percent,
            "op_types": list(PTQ_OP_TYPES), "out": str(work / "int8"),
        }  # fmt: skip
        return _keep_program(run_job(job, work, f"post-training quantization ({algo}, paddle 2.6.2)"), out_dir)


def paddle_int8_qat(model: Any, qat_state: Path, out_dir: Path) -> dict[str, Any]:
    """Save the fake-quant state dict `qat_state` as a Paddle INT8 program (legacy toolchain) -> `paddle_int8`."""
    from ..toolchain.legacy import run_job, work_dir

    with work_dir(out_dir) as work:
        job = {"action": "qat_save", "state_dict": str(qat_state.resolve()), "out": str(work / "int8")}
        return _keep_program(run_job({**job, **model_job(model)}, work, "saving the QAT INT8 program"), out_dir)


def _keep_program(saved: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    target = out_dir / "paddle_int8"
    target.mkdir(parents=True, exist_ok=True)
    for key in ("model", "params"):
        os.replace(saved[key], target / Path(saved[key]).name)
    return {"model": target / "model.pdmodel", "quantized_layers": int(saved["quantized_layers"])}


def int8_artifacts(
    model: Any,
    name: str,
    class_names: list[str],
    fp32: dict[str, Path],
    paddle_int8: Callable[[], Path | None],
    calib: np.ndarray,
    out_dir: Path,
    onnx_method: tuple[str, float],
    lite_targets: list[str],
    progress: Progress,
    metric: Any = None,
    val_size: int = 0,
    max_drop: float = 0.01,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """From the Paddle INT8 program (`paddle_int8()`, called after the ONNX-based models: it waits for the program
    being made in the background; None: not made, so no Lite model either) and the FP32 ONNX: the INT8 artifact
    of every format (main file by key), and per format what was quantized (see `layers` in the report).

    OpenVINO goes first: with `metric` on `val_size` validation images it measures which layers to keep FP32, and
    the onnxruntime model keeps the layers its accuracy control reverted (if it had to run) FP32 too.
    """
    from ..export.lite import optimize_program
    from .nncf_int8 import quantize_openvino_int8
    from .onnx_int8 import quantize_onnx_int8

    def meta(fmt: str) -> dict[str, Any]:
        return artifact_meta(model, name, class_names, fmt)

    files: dict[str, Path] = {}
    layers: dict[str, Any] = {}
    control = f", mAP drop measured on {val_size} images" if metric is not None and val_size else ""
    progress(f"OpenVINO INT8 (NNCF{control})")
    files["openvino_int8"] = out_dir / "openvino_int8" / "model.xml"
    layers["openvino"] = quantize_openvino_int8(fp32["onnx"], calib, files["openvino_int8"], metric, val_size, max_drop)
    write_sidecar(files["openvino_int8"].parent, meta("openvino"))
    progress("ONNX INT8 (onnxruntime quantize_static, fused QDQ)")
    files["onnx_int8"] = out_dir / "onnx_int8" / "model.onnx"
    kept = tuple(layers["openvino"]["reverted"])
    layers["onnxruntime"] = quantize_onnx_int8(
        fp32["onnx"], calib, files["onnx_int8"], meta("onnx"), *onnx_method, kept
    )
    program = paddle_int8()
    if program is not None:
        write_sidecar(program.parent, meta("paddle"))
        files = {"paddle_int8": program, **files}
    if lite_targets and program is not None:
        progress("Paddle-Lite INT8 (paddle_lite_opt)")
        lite_dir = out_dir / "lite_int8"
        lite_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".lite-", dir=out_dir) as tmp:
            nbs = optimize_program(
                program, program.with_suffix(".pdiparams"), lite_dir, lite_targets, False, workdir=Path(tmp)
            )
        write_sidecar(lite_dir, meta("lite"))
        files |= {f"lite_int8_{nb.stem.removeprefix('model_')}": nb for nb in nbs}
    return files, layers
