"""`picodet train` and `picodet run` refuse an output folder that is not theirs; a hostile resume point is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.engine.checkpoint import RUN_MARKER
from picodet_cli.recipe.loader import default_recipes_dir

runner = CliRunner()
BOMB = b"\x80\x04cnumpy\nndarray\n(J\xa0\x86\x01\x00J\xa0\x86\x01\x00K\ntR."  # ndarray((100000, 100000, 10))


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("command", ["train", "run"])
def test_existing_folder_that_is_not_a_run_is_refused(tiny_sets, tmp_path: Path, command: str):
    folder = tmp_path / "my-photos"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pdparams").write_bytes(b"precious")
    recipe = str(default_recipes_dir() / "demo.toml")
    sets = [a for s in tiny_sets(folder, "train.epochs=1") for a in ("--set", s)]
    args = ["train", "--recipe", recipe, *sets] if command == "train" else ["run", recipe, *sets]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "is not a picodet run folder" in one_error_line(result.output) and "--exist-ok" in result.output
    assert (folder / "weights" / "best.pdparams").read_bytes() == b"precious"
    assert sorted(p.name for p in folder.iterdir()) == ["weights"]


def test_hostile_resume_checkpoint_is_one_line(tiny_sets, tmp_path: Path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    recipe = str((default_recipes_dir() / "demo.toml").resolve())
    (run_dir / RUN_MARKER).write_text(json.dumps({"format": "picodet-run", "recipe": recipe}))
    (run_dir / "run.json").write_text(json.dumps({"recipe": recipe, "overrides": tiny_sets(run_dir), "devices": 1}))
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(BOMB)
    result = runner.invoke(app, ["train", "--resume", str(run_dir)])
    assert result.exit_code == 1
    assert "numpy.ndarray" in one_error_line(result.output)
