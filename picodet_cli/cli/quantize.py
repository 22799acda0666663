"""`picodet quantize`: INT8 models by PTQ (calibration) or QAT (fake-quant fine-tuning), each with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PicodetError
from .console import console, err_console, print_json
from .options import JsonOpt
from .train import SetOpt

EXAMPLES = """
Examples:\n
  picodet quantize s-320 --method ptq --data recipes/s-320-coco.toml\n
  picodet quantize runs/demo/weights/best.pdparams --data val.json --images val/ --calib-images 32 --algo abs_max\n
  picodet quantize s-320 --method qat --recipe my.toml --set quantize.epochs=2\n
  picodet quantize --recipe my.toml   (method and settings from its [quantize] section)\n
  picodet export runs/quant/s-320 --to onnx,openvino,lite   (the INT8 models, verified)
"""

ALGOS = ("hist", "kl", "mse", "avg", "abs_max", "emd")


def _index(data: Path, images: Path | None) -> Any:
    """The validation split of a recipe, or a COCO json + image folder."""
    from ..data.index import read_dataset
    from ..recipe.loader import load_recipe
    from ..slim.from_recipe import validation_index

    if data.suffix == ".toml":
        return validation_index(load_recipe(data))
    if images is None:
        raise PicodetError("--data annotations.json needs --images FOLDER", "or pass a recipe as --data")
    return read_dataset("coco", images, data)


def _print(report: dict[str, Any], as_json: bool) -> None:
    from ..slim.report import REPORT, report_table

    if as_json:
        print_json(report)
        return
    console.print(report_table(report))
    for key, path in report["artifacts"].items():
        console.print(f"{key:16} {path}", markup=False)
    console.print(f"report written to {Path(report['out_dir']) / REPORT}", markup=False)


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
    recipe: Annotated[Path | None, typer.Option(help="Recipe: model, data and the [quantize] section (QAT).")] = None,
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
        report = ptq_model(model, weights, _index(data, images), out_dir, settings, imgsz, progress)
    _print(report, as_json)
    from rich.markup import escape

    from ..slim.pipeline import broken

    for line in report["warnings"]:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    if not report["ok"]:
        for line in broken(report):
            err_console.print(f"[bold red]error:[/] INT8 check failed: {escape(line)}", soft_wrap=True)
        raise typer.Exit(1)


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
    reporter = None
    if loaded.quantize.method == "qat":
        from .train import RichReporter

        reporter = RichReporter()
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
        raise PicodetError("give --to FORMAT", "onnx, openvino, paddle, lite or all")
    report, path = export_quantized(
        quant_dir, to, out, target, verify, lambda f: err_console.print(f"exporting [bold]{f}[/] ...")
    )
    if as_json:
        print_json(report)
    else:
        console.print(report_table(report))
        console.print(f"report written to {path}", markup=False)
    from rich.markup import escape

    bad = {n: e for n, e in report["formats"].items() if e["status"] == "failed"}
    for name, entry in bad.items():
        line = f"{name}: {entry['error']}" + (f" (hint: {entry['hint']})" if entry["hint"] else "")
        err_console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    if bad:
        raise typer.Exit(1)


quantize_command.__doc__ = f"{quantize_command.__doc__}\n{EXAMPLES}"


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_command)
