"""`picodet train` and `picodet eval` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.recipe.loader import default_recipes_dir

runner = CliRunner()
EXPECTED = [0.5045806987249628, 0.6969727247299577, 0.5729816669904824, 0.5856257209410443, 0.5193996948036719]


def json_of(output: str):
    return json.loads(output[min(i for i in (output.find("{"), output.find("[")) if i >= 0) :])


def test_eval_detections_file_reproduces_the_public_fixture(coco_eval_dir: Path, tmp_path: Path):
    folder = coco_eval_dir
    result = runner.invoke(
        app,
        ["eval", "--annotations", str(folder / "instances_val2014_100.json"),
         "--detections", str(folder / "instances_val2014_fakebbox100_results.json"), "--json",
         "--out", str(tmp_path / "eval")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json_of(result.stdout)["stats"]
    assert stats[:5] == pytest.approx(EXPECTED, abs=1e-12)
    for name in ("metrics.json", "PR_curve.png", "confusion_matrix.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 100, name


def test_eval_needs_both_files_one_line_error():
    result = runner.invoke(app, ["eval", "--detections", "x.json"])
    assert result.exit_code == 1 and "go together" in result.output and "Traceback" not in result.output


def test_train_resume_then_eval_the_run(tiny_sets, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = tiny_sets("run", "train.epochs=1", "train.eval_interval=1")
    args = ["train", "--recipe", str(default_recipes_dir() / "demo.toml"), *[a for s in sets for a in ("--set", s)]]
    first = runner.invoke(app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    summary = json_of(first.stdout)
    assert summary["epochs"] == 1 and summary["steps"] == 4 and Path(summary["best_weights"]).is_file()

    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.output, "an existing run is never overwritten"

    more = runner.invoke(app, ["train", "--resume", "run", "--set", "train.epochs=2", "--json"])
    assert more.exit_code == 0, more.output
    assert json_of(more.stdout)["steps"] == 8, "continued from step 4"

    recipe = str(default_recipes_dir() / "demo.toml")
    scored = runner.invoke(
        app, ["eval", summary["best_weights"], "--data", recipe, *[a for s in sets for a in ("--set", s)], "--json"]
    )
    assert scored.exit_code == 0, scored.output
    report = json_of(scored.stdout)
    assert report["num_images"] == 8 and 0.0 <= report["map50"] <= 1.0
