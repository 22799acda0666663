"""`picodet toolchain ls|install|rm`: the pinned side environments used by converters with old wheels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import PicodetError
from .console import console, human_size, print_json
from .options import JsonOpt

NameArg = Annotated[str, typer.Argument(help="Toolchain name (see `picodet toolchain ls`): legacy, arm-emulator.")]

toolchain_app = typer.Typer(
    help="Manage side toolchains ('legacy': Python 3.10 + paddle 2.6.2 + Paddle-Lite for `export --to lite`; "
    "'arm-emulator': qemu + aarch64 runtimes for `bench --device arm --emulate`).",
    no_args_is_help=True,
)

_STYLE = {"installed": "green", "outdated": "yellow", "missing": "dim"}


@toolchain_app.command("ls")
def ls_command(as_json: JsonOpt = False) -> None:
    """List the toolchains with their status, folder and pinned packages."""
    from ..toolchain import arm_emulator, envs

    rows = [*(envs.describe(spec) for spec in envs.TOOLCHAINS.values()), arm_emulator.describe()]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"toolchains in {envs.toolchains_root()}", title_justify="left")
    for column in ("name", "status", "python", "size"):
        table.add_column(column)
    table.add_column("pinned packages", no_wrap=True)
    for row in rows:
        size = human_size(row["size_bytes"]) if row["size_bytes"] is not None else "-"
        status = f"[{_STYLE[row['status']]}]{row['status']}[/]"
        table.add_row(row["name"], status, row["python"], size, "\n".join(row["requirements"]))
    console.print(table)


@dataclass(frozen=True)
class _Toolchain:
    """What the commands need of one toolchain, whichever module provisions it."""

    status: str
    folder: Path
    log: Path
    install: Callable[..., Path]  # (force=, report=)
    remove: Callable[[], bool]


def _toolchain(name: str) -> _Toolchain:
    from ..toolchain import arm_emulator, envs

    if name == arm_emulator.NAME:
        em = arm_emulator
        return _Toolchain(em.status(), em.folder(), em.log_path(), em.install, em.remove)
    if name not in envs.TOOLCHAINS:
        raise PicodetError(f"unknown toolchain '{name}'", f"one of: {', '.join([*envs.TOOLCHAINS, arm_emulator.NAME])}")
    spec = envs.get_spec(name)
    return _Toolchain(
        envs.status(spec), envs.toolchain_dir(spec), envs.log_path(spec), partial(envs.install, name),
        partial(envs.remove, name),
    )  # fmt: skip


@toolchain_app.command("install")
def install_command(
    name: NameArg,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when it is installed.")] = False,
) -> None:
    """Create a toolchain now (it is also created automatically on first use)."""
    toolchain = _toolchain(name)
    if toolchain.status == "installed" and not force:
        console.print(f"'{name}' is already installed in {toolchain.folder} (use --force to rebuild)")
        return
    with console.status(f"installing toolchain '{name}'") as spinner:

        def report(message: str) -> None:
            console.print(f"[dim]{message}[/]")
            spinner.update(f"{name}: {message}")

        path = toolchain.install(force=force, report=report)

    console.print(f"[green]ready:[/] {path} (log: {toolchain.log})")


@toolchain_app.command("rm")
def rm_command(name: NameArg) -> None:
    """Delete a toolchain's folder (it is rebuilt on next use)."""
    removed = _toolchain(name).remove()
    console.print(f"removed '{name}'" if removed else f"'{name}' is not installed")


def register(app: typer.Typer) -> None:
    app.add_typer(toolchain_app, name="toolchain")
