"""`picodet demo`: one offline command that shows the whole product."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .console import console, err_console, print_json
from .options import JsonOpt


def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="A short first look (fewer images and epochs).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming an earlier demo run.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a dataset, train PicoDet-S on it, evaluate, and predict: offline, on this CPU."""
    from ..demo import run_demo
    from .train import RichReporter

    result = run_demo(
        out, quick=quick, fresh=fresh, reporter=RichReporter(), say=lambda m: err_console.print(f"[bold]{m}[/]")
    )
    summary = {
        "dataset": str(result.dataset),
        "run_dir": str(result.run_dir),
        "weights": str(result.weights) if result.weights else None,
        "metrics": result.metrics,
        "predictions": str(result.predictions) if result.predictions else None,
        "stages": result.stages,
    }
    if as_json:
        print_json(summary)
        return
    table = Table(title="picodet demo", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("result")
    table.add_row("stages", " -> ".join(result.stages))
    if result.metrics:
        table.add_row("mAP / mAP50", f"{result.metrics['map']:.3f} / {result.metrics['map50']:.3f}")
    for key in ("dataset", "run_dir", "weights", "predictions"):
        table.add_row(key, summary[key] or "-")
    console.print(table)
    if "predict" not in result.stages:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
