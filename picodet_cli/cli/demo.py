"""`picodet demo`: one offline command that shows the whole product."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .console import console, err_console, print_json
from .options import JsonOpt


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="A short first look (fewer images and epochs).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming an earlier demo run.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a dataset, then train, evaluate, quantize, export, bench and predict: offline, on this CPU."""
    from ..pipelines.demo import run_demo
    from .run import print_summary
    from .train import RichReporter

    result = run_demo(
        out, quick=quick, fresh=fresh, reporter=RichReporter(), say=lambda m: err_console.print(f"[bold]{m}[/]")
    )
    summary = {
        "dataset": str(result.dataset),
        "run_dir": str(result.run_dir),
        "weights": str(result.weights) if result.weights else None,
        "predictions": str(result.predictions) if result.predictions else None,
        "stages": [o.__dict__ for o in result.outcomes],
    }
    if as_json:
        print_json(summary)
        return
    print_summary(result.outcomes)
    for key in ("dataset", "run_dir", "weights", "predictions"):
        console.print(f"{key:12} {summary[key] or '-'}", markup=False)
    failed = [o.name for o in result.outcomes if o.status == "failed"]
    if failed:
        offline = any("PICODET_OFFLINE" in (o.error or "") for o in result.outcomes if o.status == "failed")
        why = (
            "; offline, the converter toolchains that Paddle-Lite and Paddle INT8 need cannot be installed: "
            "`picodet toolchain install legacy` once online"
            if offline
            else ""
        )
        err_console.print(f"[yellow]note:[/] {', '.join(failed)} did not complete (see above){why}")
    if {"train", "eval"} & set(failed):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
