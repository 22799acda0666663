"""Terminal output: rich consoles for people, plain JSON for machines, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import PicodetError

FILE_WIDTH = 200  # a file or CI log has no width: tables and lines are not wrapped at 80 columns there


def _console(stream: Any, **kwargs: Any) -> Console:
    """A console as wide as the terminal, or FILE_WIDTH columns when `stream` is a file or a pipe."""
    return Console(highlight=False, width=None if stream.isatty() else FILE_WIDTH, **kwargs)


console = _console(sys.stdout)
err_console = _console(sys.stderr, stderr=True)


def show_path(path: str | os.PathLike[str] | None) -> str:
    """`path` relative to the working folder when that is shorter (`runs/demo/...`), else as given."""
    if path is None:
        return "-"
    text = str(path)
    try:
        relative = os.path.relpath(Path(text).resolve())
    except ValueError:
        return text
    return relative if len(relative) < len(text) else text


def print_json(obj: Any) -> None:
    """Write `obj` as JSON on stdout (no rich markup, so it can be piped)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_error(error: PicodetError) -> None:
    err_console.print(f"[bold red]error:[/] {error.message}", soft_wrap=True)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {error.hint}", soft_wrap=True)


def human_size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(num_bytes) < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.1f} GB"
