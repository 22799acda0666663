"""`picodet doctor`: what is installed, what is missing and how to install it."""

from __future__ import annotations

import typer
from rich.table import Table

from .console import console, human_size, print_json, show_path
from .options import CacheDirOpt, JsonOpt


def doctor_command(as_json: JsonOpt = False, cache_dir: CacheDirOpt = None) -> None:
    """Check Python, Paddle, converters, runtimes, the cache and CPU features."""
    from ..toolchain.doctor import report

    info = report(cache_dir)
    if as_json:
        print_json(info)
        return
    console.print(f"Python {info['python']} ({info['executable']}) on {info['platform']}")
    console.print(f"picodet {info['picodet'] or '(not installed as a package)'}")
    table = Table(title="components", title_justify="left")
    for column in ("component", "version", "used for", "install"):
        table.add_column(column)
    for comp in info["components"]:
        version = f"[green]{comp['version']}[/]" if comp["ok"] else "[red]missing[/]"
        if comp["ok"] and comp["where"] != "environment":
            version += f" ({show_path(comp['where'])})"
        table.add_row(comp["name"], version, comp["purpose"], "" if comp["ok"] else comp["install"])
    console.print(table)
    cache = info["cache"]
    console.print(
        f"cache: {cache['dir']} ({human_size(cache['size_bytes'])}), "
        f"offline={'yes' if cache['offline'] else 'no'}, mirror={cache['mirror'] or '-'}"
    )
    cpu = info["cpu"]
    features = " ".join(f"{name}{'+' if on else '-'}" for name, on in cpu["features"].items())
    console.print(f"cpu: {cpu['model']} ({cpu['arch']}, {cpu['cores']} cores): {features}")
    tools = " ".join(f"{name}={'yes' if path else 'no'}" for name, path in info["tools"].items())
    console.print(f"tools: {tools}")
    missing = [comp["name"] for comp in info["components"] if not comp["ok"]]
    console.print("ok: every component is installed" if not missing else f"missing: {', '.join(missing)}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
