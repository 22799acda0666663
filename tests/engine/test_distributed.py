"""Data-parallel training through paddle.distributed.launch: CPU processes over gloo stay in sync, on one machine
and on two "machines" (two launchers on 127.0.0.1), and both give the same weights for the same global batch.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from picodet_cli.engine.distributed import launch_command
from picodet_cli.errors import PicodetError
from picodet_cli.recipe.loader import default_recipes_dir

REPO = Path(__file__).resolve().parents[2]
RANK_LINE = r"rank (\d)/2: steps (\d+) param-checksum (\S+) weights-sha256 (\w+)"


def _train(sets: list[str], *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "picodet_cli", "train", "--recipe", str(default_recipes_dir() / "demo.toml")]
    command += [a for s in sets for a in ("--set", s)] + list(extra)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _ranks(run_dirs: list[Path]) -> list[tuple[str, ...]]:
    logs = "".join(p.read_text() for d in run_dirs for p in sorted((d / "dist_logs").rglob("workerlog.*")))
    return sorted(re.findall(RANK_LINE, logs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_machines_equal_one_machine_with_the_same_global_batch(tiny_sets, tmp_path: Path):
    tiny = ["model.input_size=64", "augment.sizes=[64]", "train.epochs=1", "train.eval_interval=0"]
    single = tmp_path / "single"
    done = _train(tiny_sets(single, *tiny), "--devices", "2")
    out, _ = done.communicate(timeout=300)
    assert done.returncode == 0, out[-3000:]
    master = f"127.0.0.1:{_free_port()}"
    machines = [tmp_path / "machine0", tmp_path / "machine1"]
    nodes = [
        _train(tiny_sets(run, *tiny), "--devices", "1", "--nnodes", "2", "--node-rank", str(k), "--master", master)
        for k, run in enumerate(machines)
    ]
    for node in nodes:
        out, _ = node.communicate(timeout=300)
        assert node.returncode == 0, out[-3000:]
    one, two = _ranks([single]), _ranks(machines)
    assert [r[:2] for r in one] == [r[:2] for r in two] == [("0", "2"), ("1", "2")], "16 images / (4 x 2) = 2 steps"
    assert len({r[3] for r in one + two}) == 1, f"weights differ: {one} {two}"
    assert (single / "weights" / "last.pdparams").is_file() and (machines[0] / "weights" / "last.pdparams").is_file()
    assert (machines[0] / "run.json").is_file() and (machines[0] / "dist_logs" / "node0" / "workerlog.0").is_file()


def test_launch_command_for_a_node_and_its_errors(tiny_sets, tmp_path: Path):
    recipe = default_recipes_dir() / "demo.toml"
    sets = tiny_sets(tmp_path / "run")
    command = launch_command(recipe, sets, 2, True, 2, 1, "10.0.0.1:8470")
    launcher = command[command.index("paddle.distributed.launch") + 1 : command.index("--recipe") - 1]
    assert launcher == ["--nproc_per_node", "2", "--log_dir", str(tmp_path / "run/dist_logs/node1"), "--nnodes", "2",
                        "--rank", "1", "--master", "10.0.0.1:8470"]  # fmt: skip
    assert command[-1] == "--resume"
    for args, message in [
        ((2, 0, None), "needs --master"),
        ((2, 2, "h:1"), "not in 0..1"),
        ((2, 0, "no-port"), "is not HOST:PORT"),
    ]:
        with pytest.raises(PicodetError, match=message):
            launch_command(recipe, sets, 1, False, *args)
