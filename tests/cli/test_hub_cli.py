"""`picodet pull` and `picodet cache` through the CLI: one-line errors, JSON output, no network needed."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from picodet_cli.cli.main import app

runner = CliRunner()


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"w": np.random.default_rng(seed).standard_normal(64).astype(np.float32)}
    path.write_bytes(pickle.dumps(state, protocol=4))
    return path


def test_unknown_name_suggests_without_traceback():
    result = runner.invoke(app, ["pull", "s-41"])
    assert result.exit_code == 1
    assert "unknown model 's-41'" in result.output and "did you mean" in result.output
    assert "Traceback" not in result.output


def test_offline_uncached_pull_names_the_fix(monkeypatch):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    result = runner.invoke(app, ["pull", "s-416"])
    assert result.exit_code == 1
    assert "PICODET_OFFLINE=1" in result.output and "hint: picodet pull s-416" in result.output
    assert "Traceback" not in result.output


def test_pull_local_file_reports_local_as_json(tmp_path: Path):
    local = write_checkpoint(tmp_path / "mine.pdparams")
    result = runner.invoke(app, ["pull", str(local), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["status"] == "local" and row["path"] == str(local.resolve()) and row["size"] == local.stat().st_size


def test_pull_several_keeps_going_and_exits_1(tmp_path: Path):
    local = write_checkpoint(tmp_path / "mine.pdparams")
    result = runner.invoke(app, ["pull", "nope-model", str(local), "--json"])
    assert result.exit_code == 1
    assert [row["status"] for row in json.loads(result.stdout)] == ["local"]
    assert "unknown model 'nope-model'" in result.output


def test_unsafe_local_checkpoint_is_one_line_error(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (print, ("boom",))

    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"x": Evil()}, protocol=4))
    result = runner.invoke(app, ["pull", str(path)])
    assert result.exit_code == 1 and "refusing to load 'builtins.print'" in result.output
    assert "boom" not in result.output and "Traceback" not in result.output


def test_cache_dir_ls_verify_rm_on_a_seeded_cache(isolated_cache: Path, tmp_path: Path):
    assert runner.invoke(app, ["cache", "dir"]).output.strip() == str(isolated_cache)
    other = tmp_path / "elsewhere"
    assert runner.invoke(app, ["cache", "dir", "--cache-dir", str(other)]).output.strip() == str(other)
    assert json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout) == []

    path = write_checkpoint(isolated_cache / "models" / "picodet_s_416_coco.pdparams")
    (isolated_cache / "models" / "picodet_m_416_coco.pdparams.part").write_bytes(b"123")
    rows = {r["file"]: r for r in json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout)}
    assert rows["picodet_s_416_coco.pdparams"]["state"] == "unverified"
    assert rows["picodet_s_416_coco.pdparams"]["name"] == "s-416"
    assert rows["picodet_m_416_coco.pdparams.part"]["state"] == "partial"
    assert rows["picodet_m_416_coco.pdparams.part"]["name"] == "m-416"

    verified = runner.invoke(app, ["cache", "verify", "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)[0]["source"] == "new"
    write_checkpoint(path, seed=1)  # corrupt it behind the manifest's back
    result = runner.invoke(app, ["cache", "verify", "s-416"])
    assert result.exit_code == 1
    assert "does not match" in result.output and "hint: picodet pull s-416 --force" in result.output
    assert not path.exists() and len(list((isolated_cache / "quarantine").iterdir())) == 1

    result = runner.invoke(app, ["cache", "rm", "m-416", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0].endswith(".part")
    assert runner.invoke(app, ["cache", "rm", "m-416"]).exit_code == 1


def test_hub_cli_module_imports_light():
    code = "import sys, picodet_cli.cli.hub; print(sorted({'numpy', 'httpx', 'paddle'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
