"""Terminal output: rich consoles for people, plain JSON for machines, one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from ..errors import PicodetError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


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
