"""`picodet run`: stages in order, a summary per stage, unchanged stages skipped on a re-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.recipe.loader import default_recipes_dir

runner = CliRunner()


@pytest.fixture
def run_args(tiny_sets):
    def make(out: Path, *extra: str) -> list[str]:
        sets = tiny_sets(out, "train.epochs=1", 'export.formats=["onnx"]', *extra)
        return ["run", str(default_recipes_dir() / "demo.toml"), *[a for s in sets for a in ("--set", s)]]

    return make


def test_run_then_rerun_skips_unchanged_stages(run_args, tmp_path: Path):
    out = tmp_path / "run"
    first = runner.invoke(app, [*run_args(out), "--only", "train,eval,export", "--json"])
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout[first.stdout.index("[") :])
    assert [(r["name"], r["status"]) for r in rows] == [("train", "done"), ("eval", "done"), ("export", "done")]
    assert 0.0 <= rows[1]["summary"]["map50"] <= 1.0
    assert rows[2]["summary"]["formats"] == {"onnx": "ok"}
    assert (out / "export" / "export_report.json").is_file()
    # the run folder as README lists it
    assert (out / "run.json").is_file() and (out / "weights" / "model.json").is_file()
    assert json.loads((out / "run.json").read_text())["overrides"][-2:] == ["train.epochs=1", 'export.formats=["onnx"]']
    for name in ("results.png", "eval/PR_curve.png", "eval/confusion_matrix.png", "eval/metrics.json"):
        assert (out / name).is_file(), name

    again = runner.invoke(app, [*run_args(out), "--only", "train,eval,export", "--json"])
    rows = json.loads(again.stdout[again.stdout.index("[") :])
    assert [r["status"] for r in rows] == ["skipped"] * 3

    changed = runner.invoke(app, [*run_args(out, "eval.keep_top_k=50"), "--only", "train,eval", "--json"])
    rows = json.loads(changed.stdout[changed.stdout.index("[") :])
    assert [r["status"] for r in rows] == ["skipped", "done"], "only the stage whose settings changed runs"


def test_bench_reruns_when_the_export_it_reads_reran(run_args, tmp_path: Path):
    out, quick_bench = tmp_path / "run", ["bench.runs=2", "bench.warmup=1"]
    stages = ["--only", "train,export,bench", "--json"]
    first = runner.invoke(app, [*run_args(out, *quick_bench), *stages])
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout[first.stdout.index("[") :])
    assert [r["status"] for r in rows] == ["done"] * 3
    changed = runner.invoke(app, [*run_args(out, *quick_bench, "export.opset=13"), *stages])
    rows = json.loads(changed.stdout[changed.stdout.index("[") :])
    assert [r["status"] for r in rows] == ["skipped", "done", "done"], "bench read the export that changed"


def test_unknown_stage_is_one_line(run_args, tmp_path: Path):
    result = runner.invoke(app, [*run_args(tmp_path / "r"), "--only", "trian"])
    assert result.exit_code == 1 and "unknown stage" in result.output and "Traceback" not in result.output
