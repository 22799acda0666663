"""`picodet export QUANT_DIR --to ...`: the INT8 models of a `picodet quantize` folder as a verified export folder.

Per format: `onnx` copies the QDQ ONNX; `openvino` converts that QDQ ONNX to IR again (OpenVINO keeps the INT8
FakeQuantize ops); `paddle` copies the Paddle INT8 program; `lite` copies the `.nb` of the target from the
quantization run, or runs paddle_lite_opt on the Paddle INT8 program (legacy toolchain). Each artifact is
checked like the quantization run checks it (`slim.verify`), against the folder's FP32 ONNX run by onnxruntime;
an arm `.nb` cannot run here and stays unverified. The result is an ordinary export folder with
`export_report.json`, which `picodet bench` and `picodet predict` take.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from .report import REPORT

INT8_FORMATS = ("onnx", "openvino", "paddle", "lite")


def is_quant_dir(path: str | Path) -> bool:
    """Whether `path` is the output folder of `picodet quantize`."""
    return (Path(path) / REPORT).is_file()


def _formats(to: str) -> list[str]:
    names = list(INT8_FORMATS) if to.strip() == "all" else [n.strip() for n in to.split(",") if n.strip()]
    unknown = [n for n in names if n not in INT8_FORMATS]
    if unknown or not names:
        raise PicodetError(
            f"a quantized model exports to {', '.join(INT8_FORMATS)} only (not {', '.join(unknown) or 'nothing'})",
            "export the FP32 model for the other formats",
        )
    return list(dict.fromkeys(names))


def _require(path: Path) -> None:
    if not path.exists():
        raise PicodetError(
            f"{path} is missing: the quantization run did not write it",
            "rerun `picodet quantize` (the Paddle and Lite INT8 models need `picodet toolchain install legacy`)",
        )


def _copy_folder(src: Path, dst: Path) -> None:
    _require(src)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def _onnx(quant_dir: Path, dst: Path, target: str) -> tuple[Path, str | None]:
    _copy_folder(quant_dir / "onnx_int8", dst)
    return dst / "model.onnx", "onnxruntime"


def _openvino(quant_dir: Path, dst: Path, target: str) -> tuple[Path, str | None]:
    from ..export.openvino import export_openvino

    _copy_folder(quant_dir / "openvino_int8", dst)  # its picodet.json
    return export_openvino(quant_dir / "onnx_int8" / "model.onnx", dst / "model.xml", False)[0], "openvino"


def _paddle(quant_dir: Path, dst: Path, target: str) -> tuple[Path, str | None]:
    _copy_folder(quant_dir / "paddle_int8", dst)
    return dst / "model.pdmodel", "paddle"


def _lite(quant_dir: Path, dst: Path, target: str) -> tuple[Path, str | None]:
    from ..export.lite import nb_name, optimize_program
    from ..export.metadata import read_sidecar, write_sidecar

    program = quant_dir / "paddle_int8" / "model.pdmodel"
    _require(program)
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    made = quant_dir / "lite_int8" / nb_name(target, False)
    if made.is_file():
        nb = dst / made.name
        shutil.copy2(made, nb)
    else:
        nb = optimize_program(program, program.with_suffix(".pdiparams"), dst, [target], False)[0]
    meta = read_sidecar(quant_dir / "lite_int8") or read_sidecar(quant_dir / "paddle_int8")
    write_sidecar(dst, (meta or {}) | {"format": "lite"})
    return nb, "lite" if target == "x86" else None


WRITERS: dict[str, Callable[[Path, Path, str], tuple[Path, str | None]]] = {
    "onnx": _onnx, "openvino": _openvino, "paddle": _paddle, "lite": _lite,
}  # fmt: skip


def _reference(quant_dir: Path, input_size: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(feeds, FP32 outputs per feed, metadata) from the folder's FP32 ONNX run by onnxruntime.

    The feeds are export verification's plus the calibration image the quantize run kept, when it did.
    """
    import numpy as np

    from ..export.verify import verification_inputs
    from ..runtimes.model import RuntimeModel
    from ..runtimes.registry import runtime_class
    from .verify import CALIB_SAMPLE, with_sample

    fp32 = quant_dir / "fp32" / "onnx" / "model.onnx"
    kept = quant_dir / CALIB_SAMPLE
    feeds = with_sample(verification_inputs(input_size, "none"), np.load(kept) if kept.is_file() else None)
    runtime = runtime_class("onnxruntime")()
    runtime.load(fp32, threads=2)
    reference = {key: list(runtime.run(feed)) for key, feed in feeds.items()}
    return feeds, reference, RuntimeModel(fp32, threads=1).meta


def export_quantized(
    quant_dir: Path,
    to: str,
    out: Path | None = None,
    target: str | None = None,
    verify: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, Any], Path]:
    """Export the INT8 models of `quant_dir` in the formats `to` into `out`: (export report, its path)."""
    from ..export.formats import DEFAULT_OPSET, get_format
    from ..export.pipeline import ExportOptions, FormatResult
    from ..export.report import build_report, write_report
    from .verify import check_artifact, judged_input

    quant = json.loads((quant_dir / REPORT).read_text(encoding="utf-8"))
    names, target = _formats(to), target or "arm"
    if target not in ("arm", "x86"):
        raise PicodetError(f"unknown --target '{target}'", "arm or x86")
    out = Path(out or Path("runs/export") / f"{quant_dir.name}-int8")
    options = ExportOptions([get_format(n) for n in names], out, "none", False, DEFAULT_OPSET, target, verify)
    feeds, reference, meta = _reference(quant_dir, int(quant["input_size"])) if verify else ({}, {}, {})
    results = []
    for name in names:
        progress(f"{name} (INT8)")
        start, result = time.perf_counter(), FormatResult(name)
        try:
            path, runtime = WRITERS[name](quant_dir, out / name, target)
            result.files = sorted(p for p in (out / name).iterdir() if p.is_file())
            if not verify or runtime is None:
                result.status = "unverified"
                result.note = "arm .nb: runs on ARM devices only" if runtime is None else "not verified (--no-verify)"
            else:
                check = check_artifact(path, runtime, meta, feeds, reference, threads=2, judged=judged_input(feeds))
                result.verification = check
                result.status = "ok" if check["ok"] else "failed"
                result.error = "; ".join(check["failures"]) or None
        except PicodetError as exc:
            result.status, result.error, result.hint = "failed", exc.message, exc.hint
        result.seconds = time.perf_counter() - start
        results.append(result)
    report = build_report(f"{quant['model']} INT8", int(quant["input_size"]), options, results, {})
    report["quantized_from"] = str(quant_dir)
    return report, write_report(report, out)
