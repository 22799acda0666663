"""Option aliases shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache folder (default: $PICODET_HOME or the platform cache dir)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="SECTION.KEY=VALUE",
        help="Override a recipe value (repeatable); VALUE is TOML (10, 0.5, true, [1,2]) or plain text.",
    ),
]
