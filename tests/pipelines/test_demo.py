"""`picodet demo --quick`: the README's main job, end to end and offline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from picodet_cli.cli.main import app


def test_quick_demo_runs_offline(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("train", "done"), ("eval", "done"), ("export", "done"),
    ]  # fmt: skip
    assert summary["stages"][2]["summary"]["formats"] == {"onnx": "ok"}
    run_dir = tmp_path / "demo-quick"  # a quick look never replaces the trained demo in runs/demo
    assert Path(summary["run_dir"]) == run_dir and Path(summary["weights"]) == run_dir / "weights" / "best.pdparams"
    assert Path(summary["weights"]).is_file() and (run_dir / "run.json").is_file()
    predictions = json.loads(Path(summary["predictions"]).read_text())  # the schema `picodet predict` writes
    assert set(predictions) == {"model", "score_threshold", "predictions", "skipped"}
    assert len(predictions["predictions"]) == 3 and all(Path(p["output"]).is_file() for p in predictions["predictions"])
    assert set(summary["plots"]) == {"curves", "pr_curve", "confusion"}
    assert all(Path(p).stat().st_size > 1000 for p in summary["plots"].values())
    assert "checks that every stage runs" in summary["note"] and "mAP near 0" in summary["note"]


def test_quick_demo_says_it_only_checks_the_pipeline(tmp_path: Path, monkeypatch):
    from picodet_cli.pipelines.demo import QUICK_NOTE, demo_overrides, demo_run_dir

    assert "learned" in QUICK_NOTE and demo_run_dir(tmp_path / "demo", quick=False) == tmp_path / "demo"
    sets = demo_overrides(
        type(
            "D", (), dict.fromkeys(("root", "train_images", "train_annotations", "val_images", "val_annotations"), "x")
        )(),
        tmp_path,
        False,
    )
    assert f'output.dir="{tmp_path}"' in sets, "the full demo's run folder is --out itself (as recipe check says)"
