"""`picodet toolchain ls|install|rm` (the sub-app is mounted on a bare Typer app here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from picodet_cli.cli.toolchain import register
from picodet_cli.toolchain import envs

runner = CliRunner()
app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test root."""


register(app)


def test_ls_json_lists_a_missing_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envs.ROOT_ENV, str(tmp_path))
    result = runner.invoke(app, ["toolchain", "ls", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    legacy = rows["legacy"]
    assert legacy["status"] == "missing" and legacy["python"] == "3.10" and legacy["size_bytes"] is None
    assert legacy["path"] == str(tmp_path / "legacy-py310")
    assert "paddlelite==2.13rc0" in legacy["requirements"]


def test_rm_of_a_missing_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envs.ROOT_ENV, str(tmp_path))
    result = runner.invoke(app, ["toolchain", "rm", "legacy"])
    assert result.exit_code == 0 and "not installed" in result.output


@pytest.mark.slow
def test_ls_and_install_show_the_provisioned_toolchain(legacy_env: Path):
    rows = {row["name"]: row for row in json.loads(runner.invoke(app, ["toolchain", "ls", "--json"]).output)}
    assert rows["legacy"]["status"] == "installed" and rows["legacy"]["size_bytes"] > 100e6
    table = runner.invoke(app, ["toolchain", "ls"])
    assert table.exit_code == 0 and "legacy" in table.output and "installed" in table.output
    again = runner.invoke(app, ["toolchain", "install", "legacy"])
    assert again.exit_code == 0 and "already installed" in again.output
