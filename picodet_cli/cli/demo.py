"""`picodet demo`: one offline command that shows the whole product."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, err_console, print_json, show_path
from .options import JsonOpt


def demo_command(
    out: Annotated[Path, typer.Option(help="Run folder for everything the demo writes.")] = Path("runs/demo"),
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A one-minute check that every stage runs (into <out>-quick; learns nothing)."),
    ] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming an earlier demo run.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a dataset, then train, evaluate, quantize, export, bench and predict: offline, on this CPU."""
    from ..pipelines.demo import run_demo
    from .reporting import TrainReporter, captured_stdout, say
    from .run import print_bench, print_summary

    with captured_stdout():
        result = run_demo(out, quick=quick, fresh=fresh, reporter=TrainReporter(), say=say)
    summary = {
        "dataset": str(result.dataset),
        "run_dir": str(result.run_dir),
        "weights": str(result.weights) if result.weights else None,
        "predictions": str(result.predictions) if result.predictions else None,
        "plots": plot_files(result.run_dir),
        "note": result.note,
        "stages": [o.__dict__ for o in result.outcomes],
    }
    if as_json:
        print_json(summary)
        return
    print_summary(result.outcomes)
    print_bench(result.outcomes)
    for key in ("dataset", "run_dir", "weights", "predictions"):
        console.print(f"{key:12} {show_path(summary[key])}", markup=False, soft_wrap=True)
    for name, path in summary["plots"].items():
        console.print(f"{name:12} {show_path(path)}", markup=False, soft_wrap=True)
    if result.note:
        err_console.print(f"[yellow]note:[/] {result.note}", soft_wrap=True)
    failed = [o.name for o in result.outcomes if o.status == "failed"]
    if failed:
        offline = any("PICODET_OFFLINE" in (o.error or "") for o in result.outcomes if o.status == "failed")
        why = (
            "; offline, the converter toolchains that Paddle-Lite and Paddle INT8 need cannot be installed: "
            "`picodet toolchain install legacy` once online"
            if offline
            else ""
        )
        err_console.print(f"[yellow]note:[/] {', '.join(failed)} did not complete (see above){why}", soft_wrap=True)
    if {"train", "eval"} & set(failed):
        raise typer.Exit(1)


PLOTS = {
    "curves": "results.png",
    "pr_curve": "eval/PR_curve.png",
    "confusion": "eval/confusion_matrix.png",
    "bench_chart": "bench.png",
}


def plot_files(run_dir: Path) -> dict[str, str]:
    """The charts the run folder holds (training curves, PR curves, confusion matrix, bench chart)."""
    return {name: str(run_dir / rel) for name, rel in PLOTS.items() if (run_dir / rel).is_file()}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
