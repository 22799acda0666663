"""`picodet export`: convert a model to deployment formats, verify each artifact, write export_report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PicodetError
from ..export.formats import FORMATS, TARGETS
from ..export.request import ExportRequest, execute, plan, request_from_recipe
from .console import console, err_console, print_json
from .options import CacheDirOpt, JsonOpt

FP16_FORMATS = ", ".join(f.name for f in FORMATS if f.fp16)
TARGET_FORMATS = ", ".join(f.name for f in FORMATS if f.targets)

EXAMPLES = """
Examples:\n
  picodet export s-416 --to onnx\n
  picodet export picodet-s --weights best.pdparams --imgsz 320 --to onnx,ncnn --fp16\n
  picodet export s-320 --to all --out deploy/\n
  picodet export --recipe recipes/export-onnx-server.toml\n
  picodet export s-416 --to all --fp16 --dry-run\n
  picodet export --list
"""


def print_format_list(as_json: bool) -> None:
    """The format table with each format's legal flags."""
    from rich.table import Table

    if as_json:
        keys = ("name", "description", "flags", "int8", "pip")
        rows = [
            dict(zip(keys, (f.name, f.description, f.flags(), bool(f.int8_writer), f.pip), strict=True))
            for f in FORMATS
        ]
        print_json(rows)
        return
    table = Table(title="export formats (--to NAME[,NAME...] or all)", title_justify="left")
    for column in ("format", "description", "runtime", "legal flags", "INT8", "needs"):
        table.add_column(column)
    for fmt in FORMATS:
        int8 = "yes" if fmt.int8_writer else "-"
        table.add_row(fmt.name, fmt.description, fmt.runtime_name, " ".join(fmt.flags()), int8, fmt.pip)
    console.print(table)


def print_plan(req: ExportRequest, options: Any, size: int, as_json: bool) -> None:
    """What `--dry-run` would do."""
    steps = {
        "model": req.model, "weights": req.weights or ("zoo" if req.pretrained else "random init"),
        "input_size": size, "formats": [f.name for f in options.formats], "skipped": options.skipped,
        "postprocess": options.postprocess, "fp16": options.fp16, "opset": options.opset,
        "target": options.target, "verify": options.verify, "out": str(options.out_dir),
    }  # fmt: skip
    if as_json:
        print_json(steps)
    else:
        for key, value in steps.items():
            console.print(f"{key:12} {value}", markup=False)


def run_request(req: ExportRequest, options: Any, as_json: bool, cache_dir: Path | None) -> dict[str, Any]:
    """Build the model, export, verify, write and print the report."""
    from ..export.report import report_table

    report, path = execute(req, options, cache_dir, lambda f: err_console.print(f"exporting [bold]{f}[/] ..."))
    if as_json:
        print_json(report)
    else:
        console.print(report_table(report))
        console.print(f"report written to {path}", markup=False)
    return report


def export_command(
    model: Annotated[str | None, typer.Argument(help="Zoo name (s-416) or architecture (picodet-s).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="FORMAT[,FORMAT...] or all; see --list.")] = None,
    weights: Annotated[str | None, typer.Option(help="Checkpoint to export instead of the zoo's weights.")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help=f"Store FP16 weights ({FP16_FORMATS}).")] = False,
    imgsz: Annotated[int | None, typer.Option(help="Input size, a multiple of 32 (default: the model's).")] = None,
    postprocess: Annotated[str, typer.Option(help="none | decode | nms: post-processing inside the graph.")] = "none",
    opset: Annotated[int | None, typer.Option(min=7, help="ONNX opset (default 14; raised when needed).")] = None,
    target: Annotated[
        str | None, typer.Option(help=f"Target CPU: {' | '.join(TARGETS)} ({TARGET_FORMATS} only; default arm).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Export folder (default runs/export/<model>-<imgsz>).")] = None,
    verify: Annotated[bool, typer.Option(help="Run every artifact and compare it with the Paddle model.")] = True,
    recipe: Annotated[
        Path | None, typer.Option(help="Take model, weights and settings from a recipe (or give RECIPE.toml as MODEL).")
    ] = None,
    list_formats: Annotated[bool, typer.Option("--list", help="List the formats and their legal flags.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the flags and show the plan; export nothing.")] = (
        False
    ),
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Export MODEL to deployment formats and verify each artifact against the Paddle model."""
    if list_formats:
        print_format_list(as_json)
        return
    if recipe is None and model is not None and model.endswith(".toml") and Path(model).is_file():
        recipe, model = Path(model), None  # `picodet export RECIPE.toml` reads like --recipe
    if recipe is None and model is not None and (Path(model) / "quant_report.json").is_file():
        from .quantize import export_quant_dir  # a `picodet quantize` folder: its INT8 models

        flags = {"--weights": weights, "--fp16": fp16, "--imgsz": imgsz, "--opset": opset}
        flags["--postprocess"] = postprocess != "none"
        return export_quant_dir(Path(model), to, out, target, verify, as_json, flags)
    if recipe is not None:
        if model is not None or to is not None:
            raise PicodetError("--recipe takes the model and formats from the recipe", "drop MODEL and --to")
        req = request_from_recipe(recipe)
    else:
        if model is None or to is None:
            raise PicodetError("give MODEL and --to FORMAT", "see `picodet export --list` for the formats")
        req = ExportRequest(model, weights, True, to, fp16, imgsz, postprocess, opset, target, out, verify)
    options, size = plan(req)
    if dry_run:
        print_plan(req, options, size, as_json)
        return
    report = run_request(req, options, as_json, cache_dir)
    if not report["ok"]:
        raise failed_formats(report, ("failed", "missing"))


def failed_formats(report: dict[str, Any], statuses: tuple[str, ...]) -> PicodetError:
    """One error for the formats of an export report whose status is in `statuses`."""
    bad = {n: e for n, e in report["formats"].items() if e["status"] in statuses}
    reasons = "; ".join(f"{name}: {entry['error']}" for name, entry in bad.items())
    hints = [f"{name}: {entry['hint']}" for name, entry in bad.items() if entry["hint"]]
    report_path = Path(report["out_dir"]) / "export_report.json"
    return PicodetError(f"export failed for {', '.join(bad)} ({reasons})", "; ".join([*hints, f"see {report_path}"]))


export_command.__doc__ = f"{export_command.__doc__}\n{EXAMPLES}"


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
