"""`picodet run`: execute every stage a recipe declares, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .console import console, err_console, print_json
from .options import JsonOpt
from .train import RichReporter, SetOpt


def run_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML declaring the stages to run.")],
    overrides: SetOpt = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated subset of stages: train,eval,quantize,export,bench.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run every stage again, training from scratch.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train, evaluate, quantize, export and bench as the recipe declares; unchanged stages are skipped."""
    from ..pipelines.stages import run_recipe
    from ..recipe.loader import check_recipe, load_recipe

    sets = list(overrides or [])
    loaded = load_recipe(recipe, sets)
    check_recipe(loaded, check_data="train" in loaded.stages or "eval" in loaded.stages)
    outcomes = run_recipe(
        loaded,
        sets,
        only=only.split(",") if only else None,
        force=force,
        reporter=RichReporter(),
        say=lambda m: err_console.print(f"[bold]{m}[/]"),
    )
    rows = [o.__dict__ for o in outcomes]
    if as_json:
        print_json(rows)
    else:
        print_summary(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def print_summary(outcomes: list) -> None:
    table = Table(title="picodet run", title_justify="left")
    for column in ("stage", "status", "time", "result"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        result = o.error or ", ".join(f"{k}={_short(v)}" for k, v in o.summary.items())
        color = {"done": "green", "skipped": "cyan", "failed": "red"}[o.status]
        table.add_row(o.name, f"[{color}]{o.status}[/]", f"{o.seconds:.0f} s", result)
    console.print(table)


def _short(value: object) -> str:
    """A table cell's text: lists counted, dicts of paths by their names (`--json` keeps everything)."""
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        if value and all(isinstance(v, str) and "/" in v for v in value.values()):
            return ", ".join(value)
        return "; ".join(f"{k} {_short(v)}" for k, v in value.items())
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
