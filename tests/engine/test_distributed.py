"""Data-parallel training: two CPU processes (gloo) through paddle.distributed.launch stay in sync."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from picodet_cli.data.synthetic import generate_shapes_dataset
from picodet_cli.recipe import default_recipes_dir

REPO = Path(__file__).resolve().parents[2]


def test_two_cpu_ranks_end_with_identical_weights(tmp_path: Path):
    data = generate_shapes_dataset(tmp_path / "data", 16, 8, 256)
    out = tmp_path / "run"
    sets = [
        f'data.root="{data.root}"',
        f'data.train_images="{data.train_images}"',
        f'data.train_annotations="{data.train_annotations}"',
        f'data.val_images="{data.val_images}"',
        f'data.val_annotations="{data.val_annotations}"',
        f'output.dir="{out}"',
        "model.input_size=128",
        "augment.sizes=[128]",
        "train.batch_size=2",
        "train.epochs=1",
        "train.workers=0",
        "train.eval_interval=0",
    ]
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
