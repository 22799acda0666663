"""`picodet quantize`: INT8 models by PTQ (calibration) or QAT (fake-quant fine-tuning), each with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PicodetError
from .console import console, err_console, human_size, print_json, show_path
from .options import JsonOpt, SetOpt
from .reporting import TrainReporter, captured_stdout

EXAMPLES = """
Examples:\n
  picodet quantize s-320 --method ptq --data recipes/s-320-coco.toml\n
  picodet quantize runs/demo/weights/best.pdparams --data val.json --images val/ --calib-images 32 --algo abs_max\n
  picodet quantize s-320 --method qat --recipe my.toml --set quantize.epochs=2\n
  picodet quantize --recipe my.toml   (method and settings from its \\[quantize] section)\n
  picodet export runs/quant/s-320 --to onnx,openvino,lite   (the INT8 models, verified)
"""

ALGOS = ("hist", "kl", "mse", "avg", "abs_max", "emd")


def _print(report: dict[str, Any], as_json: bool) -> None:
    from ..slim.report import REPORT

    if as_json:
        print_json(report)
        return
    console.print(quant_table(report))
    for key, path in report["artifacts"].items():
        console.print(f"{key:16} {show_path(path)}", markup=False, soft_wrap=True)
    console.print(f"report written to {show_path(Path(report['out_dir']) / REPORT)}", markup=False, soft_wrap=True)


def quantize_command(
    model: Annotated[
        str | None, typer.Argument(help="Zoo name, architecture, or a run's weights (.pdparams) to quantize.")
    ] = None,
    method: Annotated[str | None, typer.Option(help="ptq | qat (default: ptq, or the recipe's).")] = None,
    weights: Annotated[str | None, typer.Option(help="Checkpoint to quantize instead of MODEL's weights.")] = None,
    data: Annotated[
        Path | None, typer.Option(help="PTQ: recipe (its validation split) or COCO annotations json (with --images).")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder for --data annotations.json.")] = None,
    calib_images: Annotated[
        int | None, typer.Option(min=1, help="PTQ calibration images (default 80 = the original's 10 batches of 8).")
    ] = None,
    algo: Annotated[str | None, typer.Option(help=f"PTQ activation calibration: {' | '.join(ALGOS)}.")] = None,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Network input size (default: the model's).")] = None,
    recipe: Annotated[Path | None, typer.Option(help="Recipe: model, data and the \\[quantize] section (QAT).")] = None,
    overrides: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="QAT: continue the run in <output.dir>/qat.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default runs/quant/<model> or <output.dir>/quant).")
    ] = (None),
    as_json: JsonOpt = False,
) -> None:
    """Quantize MODEL to INT8 (Paddle, ONNX/OpenVINO, Paddle-Lite) and report FP32 vs INT8 accuracy and speed."""
    if method not in (None, "ptq", "qat"):
        raise PicodetError(f"unknown --method '{method}'", "use ptq or qat")
    if algo is not None and algo not in ALGOS:
        raise PicodetError(f"unknown --algo '{algo}'", f"use one of {', '.join(ALGOS)}")

    def progress(step: str) -> None:
        err_console.print(f"[bold]quantize:[/] {step} ...")

    if recipe is not None:
        with captured_stdout():
            report = _recipe_run(recipe, model, weights, method, calib_images, algo, overrides, resume, out, progress)
    else:
        if method == "qat":
            raise PicodetError("QAT trains: it needs --recipe", "picodet quantize MODEL --method qat --recipe FILE")
        if model is None or data is None:
            raise PicodetError("give MODEL and --data", "e.g. picodet quantize s-320 --data recipe.toml")
        from ..slim.from_recipe import ptq_model
        from ..slim.pipeline import QuantSettings

        settings = QuantSettings(calib_images=calib_images or 80, algo=algo or "hist")
        out_dir = out or Path("runs/quant") / Path(model).stem
        from ..recipe.loader import evaluation_index, load_recipe, training_index

        index = evaluation_index(data, images, list(overrides or []))
        calib_index = training_index(load_recipe(data, list(overrides or []))) if data.suffix == ".toml" else None
        with captured_stdout():
            report = ptq_model(model, weights, index, out_dir, settings, imgsz, progress, calib_index)
    _print(report, as_json)
    from rich.markup import escape

    from ..slim.pipeline import broken
    from ..slim.report import REPORT

    for line in report["warnings"]:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    if not report["ok"]:
        raise PicodetError(
            "INT8 check failed: " + "; ".join(broken(report)), f"see {show_path(Path(report['out_dir']) / REPORT)}"
        )


def _recipe_run(
    recipe: Path,
    model: str | None,
    weights: str | None,
    method: str | None,
    calib_images: int | None,
    algo: str | None,
    overrides: list[str] | None,
    resume: bool,
    out: Path | None,
    progress: Any,
) -> dict[str, Any]:
    """Quantize as the recipe says; flags given on the command line win over its [quantize] section."""
    from ..recipe.loader import check_recipe, load_recipe
    from ..slim.from_recipe import quantize_recipe

    sets = list(overrides or [])
    sets += [f"quantize.method={method}"] if method else []
    sets += [f"quantize.calib_images={calib_images}"] if calib_images else []
    sets += [f"quantize.algo={algo}"] if algo else []
    loaded = load_recipe(recipe, sets)
    check_recipe(loaded, check_data=True)
    reporter = TrainReporter() if loaded.quantize.method == "qat" else None
    return quantize_recipe(loaded, weights or model, None, out, resume, reporter, progress)


def export_quant_dir(
    quant_dir: Path,
    to: str | None,
    out: Path | None,
    target: str | None,
    verify: bool,
    as_json: bool,
    rejected: dict[str, Any],
) -> None:
    """`picodet export QUANT_DIR --to ...`: export and verify the INT8 models of a quantization folder."""
    from ..export.report import report_table
    from ..slim.export_quantized import export_quantized

    given = [flag for flag, value in rejected.items() if value]
    if given:
        raise PicodetError(f"not for a quantized model: {', '.join(given)}", "drop them")
    if to is None:
        from ..export.formats import INT8_FORMATS

        raise PicodetError("give --to FORMAT", f"{', '.join(INT8_FORMATS)} or all")
    report, path = export_quantized(
        quant_dir, to, out, target, verify, lambda f: err_console.print(f"exporting [bold]{f}[/] ...")
    )
    if as_json:
        print_json(report)
    else:
        console.print(report_table(report))
        console.print(f"report written to {show_path(path)}", markup=False, soft_wrap=True)
    bad = {n: e for n, e in report["formats"].items() if e["status"] == "failed"}
    if bad:
        lines = [f"{name}: {e['error']}" + (f" (hint: {e['hint']})" if e["hint"] else "") for name, e in bad.items()]
        raise PicodetError("export failed: " + "; ".join(lines), f"see {show_path(path)}")


def quant_table(report: dict[str, Any]) -> Any:
    """A rich table of a quantization report's main numbers."""
    from rich.table import Table

    table = Table(
        title=f"{report['method'].upper()} {report['model']} ({report['input_size']} px)", title_justify="left"
    )
    for column in ("item", "FP32", "INT8", "note"):
        table.add_column(column)
    calibration = report["calibration"]
    table.add_row("calibration", "", f"{calibration['images']} {calibration.get('source', 'images')}", "")
    fp32 = report.get("fp32")
    for rt, values in report.get("int8", {}).items():
        drop = report["drop"][rt]
        for metric in ("map", "map50"):
            table.add_row(
                f"{'mAP' if metric == 'map' else 'mAP50'} ({rt})", f"{fp32[metric]:.4f}", f"{values[metric]:.4f}",
                f"drop {drop[metric]:+.2f} points",
            )  # fmt: skip
    sizes = report["sizes_bytes"]
    for fp32_key, int8_key in (("fp32_onnx", "onnx_int8"), ("fp32_paddle", "paddle_int8")):
        if int8_key in sizes:
            table.add_row(
                f"size ({int8_key.split('_')[0]})", human_size(sizes[fp32_key]), human_size(sizes[int8_key]), ""
            )
    for key in (k for k in sizes if k.startswith("lite_int8")):
        table.add_row(f"size ({key})", "", human_size(sizes[key]), "")
    for rt, values in report["latency"].items():
        if "fp32_ms" in values:
            table.add_row(
                f"latency ({rt})", f"{values['fp32_ms']:.2f} ms", f"{values['int8_ms']:.2f} ms",
                f"x{values['speedup']:.2f}",
            )  # fmt: skip
    layers = dict(report["quantized_layers"])
    total = layers.pop("total")
    quantized = ", ".join(f"{k} {v}" for k, v in layers.items())
    table.add_row("quantized layers", "", f"{quantized} (of {total})", "the others run in FP32")
    for fmt, info in report.get("layers", {}).items():
        kept = len(info["kept_float"])
        convs = f"{info['integer_convs']} of {total}"
        table.add_row(f"integer convs ({fmt})", "", convs, f"{kept} FP32: {info['why']}")
    if report.get("cpu"):
        features = ", ".join(report["cpu"]["int8_features"]) or "none"
        table.add_row("CPU", "", report["cpu"]["model"], f"int8 features: {features}")
    for rt, verdict in report.get("recommend", {}).items():
        table.add_row(f"use ({rt})", "", verdict.split(":")[0].upper(), verdict.partition(": ")[2])
    for key, why in report.get("failed", {}).items():
        table.add_row(key, "", "FAILED", why)
    for name, check in report["verification"].items():
        image = check["inputs"].get("image", {})
        detail = f"boxes agree {image['agreement']:.0%}, max score err {image['max_score_error']:.3f}" if image else ""
        table.add_row(f"check {name}", "", "ok" if check["ok"] else "FAILED", detail or "; ".join(check["failures"]))
    return table


quantize_command.__doc__ = f"{quantize_command.__doc__}\n{EXAMPLES}"


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_command)
