"""The `picodet` command: wires one module per command group and maps errors to one-line messages."""

from __future__ import annotations

import os
import sys
import warnings

import typer
from typer.core import TyperGroup

from ..errors import PicodetError
from ..settings import use_mkl_avx2_on_amd
from . import bench, demo, doctor, export, hub, predict, quantize, recipe, run, toolchain, train, zoo
from .console import print_error


class PicodetGroup(TyperGroup):
    """Turns `PicodetError` into `error:` / `hint:` lines and exit code 1 (traceback with PICODET_DEBUG=1)."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PicodetError as error:
            if os.environ.get("PICODET_DEBUG"):
                raise
            print_error(error)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print_error(PicodetError("interrupted"))
            raise typer.Exit(130) from None


# Paddle warns at import about a missing C++ compiler cache and about BN statistics in train mode: noise for users.
warnings.filterwarnings("ignore", message="No ccache found")
warnings.filterwarnings("ignore", message="When training, we now always track global mean")

app = typer.Typer(
    name="picodet",
    cls=PicodetGroup,
    help="PP-PicoDet model zoo manager: pull, predict, train, eval, quantize, export and bench tiny detectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for module in (zoo, hub, predict, train, quantize, recipe, export, bench, run, toolchain, demo, doctor):
    module.register(app)


def run() -> None:
    """Console-script entry point."""
    use_mkl_avx2_on_amd()
    sys.exit(app())
