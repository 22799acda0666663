"""Run folders belong to picodet (claim_run_dir), and run checkpoints load back or fail as one line."""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.engine.checkpoint import (
    RUN_MARKER,
    TrainState,
    claim_run_dir,
    load_checkpoint,
    save_checkpoint,
)
from picodet_cli.errors import PicodetError

BOMB = b"\x80\x04cnumpy\nndarray\n(J\xa0\x86\x01\x00J\xa0\x86\x01\x00K\ntR."  # ndarray((100000, 100000, 10))


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "recipes" / "mine.toml"
    path.parent.mkdir()
    path.write_text("# a recipe\n")
    return path


def marker_recipe(run_dir: Path) -> str:
    return json.loads((run_dir / RUN_MARKER).read_text())["recipe"]


def test_new_or_empty_folder_is_claimed_and_marked(tmp_path: Path, recipe: Path):
    for run_dir in (tmp_path / "new" / "run", tmp_path / "empty"):
        if run_dir.name == "empty":
            run_dir.mkdir()
        claim_run_dir(run_dir, recipe)
        assert marker_recipe(run_dir) == str(recipe.resolve())
        claim_run_dir(run_dir, recipe)  # the same recipe again: fine


def test_folder_that_is_not_a_run_is_refused_unless_exist_ok(tmp_path: Path, recipe: Path):
    folder = tmp_path / "photos"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pdparams").write_bytes(b"someone else's")
    with pytest.raises(PicodetError, match="is not a picodet run folder") as info:
        claim_run_dir(folder, recipe)
    assert "--exist-ok" in info.value.hint and "output.dir" in info.value.hint
    assert not (folder / RUN_MARKER).exists()
    claim_run_dir(folder, recipe, exist_ok=True)
    assert marker_recipe(folder) == str(recipe.resolve())
    assert (folder / "weights" / "best.pdparams").read_bytes() == b"someone else's"


def test_another_recipes_run_is_refused_unless_exist_ok(tmp_path: Path, recipe: Path):
    other = recipe.with_name("other.toml")
    other.write_text("# another\n")
    run_dir = tmp_path / "run"
    claim_run_dir(run_dir, other)
    (run_dir / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(PicodetError, match=r"holds a run of another recipe \(.*other\.toml\)"):
        claim_run_dir(run_dir, recipe)
    claim_run_dir(run_dir, recipe, exist_ok=True)
    assert marker_recipe(run_dir) == str(recipe.resolve())


def test_runs_from_before_the_marker_are_recognised(tmp_path: Path, recipe: Path):
    legacy = tmp_path / "legacy"
    (legacy / "checkpoints").mkdir(parents=True)
    (legacy / "checkpoints" / "last.ckpt").write_bytes(b"")
    claim_run_dir(legacy, recipe)
    assert marker_recipe(legacy) == str(recipe.resolve())
    described = tmp_path / "described"
    described.mkdir()
    (described / "run.json").write_text(json.dumps({"recipe": str(tmp_path / "elsewhere.toml"), "overrides": []}))
    with pytest.raises(PicodetError, match="another recipe"):
        claim_run_dir(described, recipe)


def test_the_recipe_file_inside_the_folder_does_not_count(tmp_path: Path):
    run_dir = tmp_path / "runs" / "data-s-320"
    run_dir.mkdir(parents=True)
    recipe = run_dir / "recipe.toml"
    recipe.write_text("# written by train --data\n")
    claim_run_dir(run_dir, recipe)
    assert marker_recipe(run_dir) == str(recipe.resolve())


def test_claim_without_write_checks_only(tmp_path: Path, recipe: Path):
    claim_run_dir(tmp_path / "run", recipe, write=False)
    assert not (tmp_path / "run").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(PicodetError, match="is a file"):
        claim_run_dir(tmp_path / "file", recipe, exist_ok=True)


def save(path: Path) -> Path:
    save_checkpoint(
        path,
        model={"w": np.ones(3, np.float32)},
        ema=None,
        optimizer={"lr": 0.1},
        state=TrainState(epoch=2, step=8),
        meta={"arch": "picodet-s"},
        rng={"python": random.getstate(), "numpy": np.random.get_state()},
    )
    return path


def test_checkpoint_round_trip(tmp_path: Path):
    data = load_checkpoint(save(tmp_path / "last.ckpt"))
    assert data["state"] == TrainState(epoch=2, step=8)
    np.testing.assert_array_equal(data["model"]["w"], np.ones(3, np.float32))


def altered(path: Path, **changes: object) -> Path:
    """A checkpoint as save_checkpoint writes it, with some entries replaced."""
    data = pickle.loads(save(path).read_bytes())
    path.write_bytes(pickle.dumps({**data, **changes}, protocol=4))
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(BOMB) and p, "numpy.ndarray"),
        (lambda p: p.write_bytes(b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"x.") and p, "1.0 TB"),
        (lambda p: altered(p, model=None), "damaged run checkpoint"),
        (lambda p: altered(p, state={"epoch": 1, "evil": 2}), "damaged run checkpoint"),
        (lambda p: altered(p, rng={"python": (3, (1, 2), None), "numpy": "x"}), "damaged run checkpoint"),
        (lambda p: altered(p, model={"w": "not an array"}), "damaged run checkpoint"),
        (lambda p: altered(p, version=7), "checkpoint version 7"),
        (lambda p: p.write_bytes(pickle.dumps([1, 2], protocol=4)) and p, "not a picodet run checkpoint"),
    ],
)
def test_hostile_or_broken_checkpoints_are_one_line(tmp_path: Path, make, match: str):
    with pytest.raises(PicodetError, match=match) as info:
        load_checkpoint(make(tmp_path / "last.ckpt"))
    assert "\n" not in str(info.value)


def test_checkpoint_write_past_the_file_size_limit_is_one_line_and_keeps_the_old_one(tmp_path: Path):
    """RLIMIT_FSIZE makes the write fail with EFBIG (Python ignores SIGXFSZ), as a full disk would with ENOSPC."""
    path = save(tmp_path / "last.ckpt")
    before = path.read_bytes()
    code = (
        "import resource, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from picodet_cli.engine.checkpoint import save_pickle_atomic\n"
        "from picodet_cli.errors import PicodetError\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))\n"
        "try:\n"
        "    save_pickle_atomic(Path(sys.argv[1]), {'w': np.zeros(100_000, np.float32)})\n"
        "except PicodetError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"no space left to write {path}") and "previous file is kept" in done.stdout
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
