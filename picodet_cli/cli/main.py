"""The `picodet` command: wires one module per command group and maps errors to one-line messages."""

from __future__ import annotations

import os
import sys
import warnings

import typer
from typer.core import TyperGroup

from .. import QUIET_WARNINGS
from ..errors import PicodetError
from ..settings import use_mkl_avx2_on_amd
from . import bench, data, demo, doctor, export, hub, predict, quantize, recipe, run, toolchain, train, zoo
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

for module in (zoo, hub, predict, train, quantize, recipe, data, export, bench, run, toolchain, demo, doctor):
    module.register(app)


def command_line(args: list[str]) -> list[str]:
    """The arguments as typed, with `bench ... --adb SERIAL` spelled as Typer reads it (`--adb --serial SERIAL`)."""
    if "bench" not in args or not any(a == "--adb" or a.startswith("--adb=") for a in args):
        return args
    at = args.index("bench") + 1
    params = typer.main.get_command(app).commands["bench"].params
    takes_value = {o for p in params if p.param_type_name == "option" and not p.is_flag for o in p.opts}
    return args[:at] + bench.expand_adb_serial(args[at:], takes_value)


def run() -> None:
    """Console-script entry point."""
    use_mkl_avx2_on_amd()
    os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ info and warning lines: errors still show
    # child processes (data-loading workers, converters) import paddle before picodet's warning filters
    quiet = [f"ignore:{message}:UserWarning" for message in QUIET_WARNINGS]
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), *quiet) if w)
    sys.exit(app(args=command_line(sys.argv[1:])))
