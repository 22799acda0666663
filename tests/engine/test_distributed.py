"""Data-parallel training: two CPU processes (gloo) through paddle.distributed.launch stay in sync."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from picodet_cli.recipe.loader import default_recipes_dir

REPO = Path(__file__).resolve().parents[2]


def test_two_cpu_ranks_end_with_identical_weights(tiny_sets, tmp_path: Path):
    out = tmp_path / "run"
    sets = tiny_sets(out, "train.batch_size=2", "train.epochs=1", "train.eval_interval=0")
    command = [sys.executable, "-m", "picodet_cli", "train", "--recipe", str(default_recipes_dir() / "demo.toml")]
    command += [a for s in sets for a in ("--set", s)] + ["--devices", "2"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    logs = "".join(p.read_text() for p in sorted((out / "dist_logs").glob("workerlog.*")))
    ranks = re.findall(r"rank (\d)/2: steps (\d+) param-checksum (\S+)", logs)
    assert sorted(r[0] for r in ranks) == ["0", "1"], logs[-2000:]
    assert ranks[0][1] == ranks[1][1] == "4", "16 images / (2 per rank x 2 ranks) = 4 steps"
    assert ranks[0][2] == ranks[1][2], f"ranks diverged: {ranks}"
    assert (out / "weights" / "last.pdparams").is_file()
