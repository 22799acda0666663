"""The `picodet` command: wires one module per command group and maps errors to one-line messages."""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from .. import QUIET_WARNINGS, __version__
from ..errors import PicodetError
from ..settings import use_mkl_avx2_on_amd
from . import bench, data, demo, doctor, export, hub, predict, quantize, recipe, run, toolchain, train, zoo
from .console import print_error


class PicodetGroup(TyperGroup):
    """Turns `PicodetError` into `error:` / `hint:` lines and exit code 1 (traceback with PICODET_DEBUG=1)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        _hide_flag_types(self)

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


HELP_OPTIONS = ["-h", "--help"]
app = typer.Typer(
    name="picodet",
    cls=PicodetGroup,
    help="PP-PicoDet model zoo manager: pull, predict, train, eval, quantize, export and bench tiny detectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)


def _hide_flag_types(command: typer.core.TyperCommand | TyperGroup) -> None:
    """No `<bool>` type beside flags (`--json`, `--help`) in the help of every command: a flag takes no value."""
    ctx = typer.Context(command, help_option_names=HELP_OPTIONS)
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"picodet {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """PP-PicoDet model zoo manager: pull, predict, train, eval, quantize, export and bench tiny detectors."""


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


def child_warning_filters(existing: str | None) -> str:
    """PYTHONWARNINGS with QUIET_WARNINGS added: commas separate its filters, so each message is cut at its first
    comma (the message field is a literal prefix of the warning's text, so the prefix still matches)."""
    quiet = [f"ignore:{message.split(',')[0]}:UserWarning" for message in QUIET_WARNINGS]
    return ",".join(w for w in (existing, *quiet) if w)


def run() -> None:
    """Console-script entry point."""
    use_mkl_avx2_on_amd()
    os.environ.setdefault("GLOG_minloglevel", "2")  # Paddle's C++ info and warning lines: errors still show
    # child processes (data-loading workers, converters) import paddle before picodet's warning filters
    os.environ["PYTHONWARNINGS"] = child_warning_filters(os.environ.get("PYTHONWARNINGS"))
    sys.exit(app(args=command_line(sys.argv[1:])))
