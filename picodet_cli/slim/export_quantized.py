"""`picodet export QUANT_DIR --to ...`: the INT8 models of a `picodet quantize` folder, through the export pipeline.

The formats with an INT8 form name a writer here in the format table (`Format.int8_writer`): `onnx` copies the
QDQ ONNX; `openvino` copies the NNCF INT8 IR (slim/nncf_int8.py); `paddle`
copies the Paddle INT8 program; `lite` copies the `.nb` of the target from the quantization run, or runs
paddle_lite_opt on the Paddle INT8 program (legacy toolchain). The pipeline stages, verifies (INT8 limits, against
the folder's FP32 ONNX run by onnxruntime, on the calibration image the run kept) and reports them like any
export; an arm `.nb` cannot run here and stays unverified. The result is an ordinary export folder with
`export_report.json`, which `picodet bench` and `picodet predict` take.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from .report import REPORT

FP32_ONNX = Path("fp32") / "onnx" / "model.onnx"


def is_quant_dir(path: str | Path) -> bool:
    """Whether `path` is the output folder of `picodet quantize`."""
    return (Path(path) / REPORT).is_file()


def _source(ctx: Any, relative: str) -> Path:
    path = ctx.options.quant_dir / relative
    if not path.exists():
        raise PicodetError(
            f"{path} is missing: the quantization run did not write it",
            "rerun `picodet quantize` (the Paddle and Lite INT8 models need `picodet toolchain install legacy`)",
        )
    return path


def _copy(ctx: Any, relative: str, names: tuple[str, ...]) -> list[Path]:
    """Copy the files `names` of the quantize folder's `relative` folder into the staging folder."""
    return [Path(shutil.copy2(_source(ctx, f"{relative}/{name}"), ctx.folder / name)) for name in names]


def write_onnx(ctx: Any) -> list[Path]:
    return _copy(ctx, "onnx_int8", ("model.onnx",))


def write_openvino(ctx: Any) -> list[Path]:
    """The NNCF INT8 IR of the quantize run (older runs: their QDQ ONNX converted to IR)."""
    if (ctx.options.quant_dir / "openvino_int8" / "model.xml").is_file():
        return _copy(ctx, "openvino_int8", ("model.xml", "model.bin"))
    from ..export.openvino import export_openvino

    return export_openvino(_source(ctx, "onnx_int8/model.onnx"), ctx.folder / "model.xml", False)


def write_paddle(ctx: Any) -> list[Path]:
    return _copy(ctx, "paddle_int8", ("model.pdmodel", "model.pdiparams"))


def write_lite(ctx: Any) -> list[Path]:
    from ..export.lite import nb_name, optimize_program

    program = _source(ctx, "paddle_int8/model.pdmodel")
    made = ctx.options.quant_dir / "lite_int8" / nb_name(ctx.options.target, False)
    if made.is_file():
        return [Path(shutil.copy2(made, ctx.folder / made.name))]
    with ctx.scratch() as work:
        return optimize_program(
            program, program.with_suffix(".pdiparams"), ctx.folder, [ctx.options.target], False, workdir=work
        )


def int8_reference(quant_dir: Path, input_size: int) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """(feeds, FP32 outputs per feed, the judged inputs) from the folder's FP32 ONNX run by onnxruntime.

    The feeds are export verification's plus the calibration image the quantize run kept, when it did.
    """
    import numpy as np

    from ..export.verify import verification_inputs
    from ..runtimes.registry import locate_artifact, open_runtime
    from .verify import CALIB_SAMPLE, judged_inputs, with_sample

    kept = quant_dir / CALIB_SAMPLE
    feeds = with_sample(verification_inputs(input_size, "none"), np.load(kept) if kept.is_file() else None)
    runtime = open_runtime(locate_artifact(quant_dir / FP32_ONNX))
    return feeds, {key: list(runtime.run(feed)) for key, feed in feeds.items()}, judged_inputs(feeds)


def export_quantized(
    quant_dir: Path,
    to: str,
    out: Path | None = None,
    target: str | None = None,
    verify: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, Any], Path]:
    """Export the INT8 models of `quant_dir` in the formats `to` into `out`: (export report, its path)."""
    from ..export.formats import DEFAULT_OPSET, check_target, select_int8_formats
    from ..export.pipeline import ExportOptions, run_export
    from ..export.report import build_report, write_report
    from ..runtimes.model import RuntimeModel

    quant = json.loads((quant_dir / REPORT).read_text(encoding="utf-8"))
    formats = select_int8_formats(to)
    check_target(target)
    out = Path(out or Path("runs/export") / f"{quant_dir.name}-int8")
    options = ExportOptions(
        formats, out, "none", False, DEFAULT_OPSET, target or "arm", verify, quant_dir=quant_dir
    )  # fmt: skip
    meta = RuntimeModel(quant_dir / FP32_ONNX, threads=1).meta
    name = f"{quant['model']} INT8"
    results, steps = run_export(None, name, meta.get("class_names") or [], options, progress, base_meta=meta)
    report = build_report(name, int(quant["input_size"]), options, results, steps)
    report["quantized_from"] = str(quant_dir)
    return report, write_report(report, out)
