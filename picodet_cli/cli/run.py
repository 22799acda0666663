"""`picodet run`: execute every stage a recipe declares, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .console import console, print_json, show_path
from .options import JsonOpt, SetOpt
from .reporting import TrainReporter, captured_stdout, say


def run_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe TOML declaring the stages to run.")],
    overrides: SetOpt = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated subset of stages: train,eval,quantize,export,bench.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run every stage again, training from scratch.")] = False,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Write into an output folder that is not a run of this recipe.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train, evaluate, quantize, export and bench as the recipe declares; unchanged stages are skipped."""
    from ..pipelines.stages import run_recipe
    from ..recipe.loader import check_recipe, load_recipe

    sets = list(overrides or [])
    loaded = load_recipe(recipe, sets)
    check_recipe(loaded, check_data="train" in loaded.stages or "eval" in loaded.stages)
    with captured_stdout():
        outcomes = run_recipe(
            loaded,
            sets,
            only=only.split(",") if only else None,
            force=force,
            reporter=TrainReporter(),
            say=say,
            exist_ok=exist_ok,
        )
    rows = [o.__dict__ for o in outcomes]
    if as_json:
        print_json(rows)
    else:
        print_summary(outcomes)
        print_bench(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def print_summary(outcomes: list) -> None:
    """One row per stage: status, time and its result (bench formats in their own table, `print_bench`)."""
    table = Table(title="picodet run", title_justify="left")
    for column in ("stage", "status", "time"):
        table.add_column(column, no_wrap=True)
    table.add_column("result", overflow="fold")
    for o in outcomes:
        shown = {k: v for k, v in o.summary.items() if not (o.name == "bench" and k == "formats")}
        result = o.error or ", ".join(f"{k}={_short(v)}" for k, v in shown.items())
        color = {"done": "green", "skipped": "cyan", "failed": "red"}[o.status]
        table.add_row(o.name, f"[{color}]{o.status}[/]", f"{o.seconds:.0f} s", result)
    console.print(table)


def print_bench(outcomes: list) -> None:
    """The bench stage's formats as a table: one row each, its latency and mAP50 (from `bench.json`)."""
    import json
    from pathlib import Path

    bench = next((o for o in outcomes if o.name == "bench" and o.summary.get("report")), None)
    if bench is None or not Path(bench.summary["report"]).is_file():
        return
    rows = json.loads(Path(bench.summary["report"]).read_text())["rows"]
    table = Table(title=f"bench ({show_path(bench.summary['report'])})", title_justify="left")
    for column in ("format", "status", "p50 ms", "mAP50", "size MB", "note"):
        table.add_column(column, justify="right" if column[0] in "pms" and column != "status" else "left")
    for row in rows:
        p50 = (row.get("latency") or {}).get("p50")
        table.add_row(
            str(row["format"]) + (" int8" if row.get("precision") == "int8" else ""),
            str(row["status"]), "-" if p50 is None else f"{p50:.2f}",
            "-" if row.get("map50") is None else f"{row['map50']:.3f}",
            "-" if row.get("size_mb") is None else f"{row['size_mb']:.2f}", row.get("error") or row.get("note") or "",
        )  # fmt: skip
    console.print(table)


def _short(value: object) -> str:
    """A table cell's text: lists counted, dicts of paths by their names (`--json` keeps everything)."""
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        if value and all(isinstance(v, str) and "/" in v for v in value.values()):
            return ", ".join(value)
        return "; ".join(f"{k} {_short(v)}" for k, v in value.items())
    if isinstance(value, str) and "/" in value:
        return show_path(value)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
