"""`picodet quantize` argument handling (the runs themselves are covered by test_ptq / test_qat)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app

runner = CliRunner()


def test_help_shows_methods_and_examples():
    result = runner.invoke(app, ["quantize", "--help"])
    assert result.exit_code == 0
    assert "--method" in result.output and "--calib-images" in result.output and "--recipe" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s-320", "--method", "int4", "--data", "x.toml"], "unknown --method"),
        (["s-320", "--algo", "best", "--data", "x.toml"], "unknown --algo"),
        (["s-320", "--method", "qat"], "needs --recipe"),
        (["s-320"], "give MODEL and --data"),
        (["s-320", "--data", "val.json"], "needs --images"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], message: str):
    result = runner.invoke(app, ["quantize", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_importing_the_command_stays_light():
    code = "import sys, picodet_cli.cli.quantize; print('paddle' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
