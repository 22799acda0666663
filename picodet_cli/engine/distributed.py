"""Data-parallel training through `paddle.distributed.launch` (GPUs when present, CPU processes with gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import paddle


def launch(recipe: Path, overrides: list[str], devices: int, resume: bool) -> int:
    """Run `devices` training processes with Paddle's launcher; returns the launcher's exit code."""
    from ..recipe.loader import load_recipe

    log_dir = Path(load_recipe(recipe, overrides).output.dir) / "dist_logs"
    worker = Path(__file__).with_name("dist_worker.py")
    command = [
        sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(devices), "--log_dir", str(log_dir),
        str(worker), "--recipe", str(recipe), *[arg for o in overrides for arg in ("--set", o)],
    ]  # fmt: skip
    if resume:
        command.append("--resume")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path]))
    return subprocess.call(command, env=env)


def all_reduce_mean(value: paddle.Tensor) -> paddle.Tensor:
    """Mean of a tensor over all ranks (used for N_pos and the loss weight sum)."""
    import paddle.distributed as dist

    reduced = value.clone()
    dist.all_reduce(reduced)
    return reduced / dist.get_world_size()


def sync_gradients(model: paddle.nn.Layer) -> None:
    """Average gradients over ranks with one all-reduce of a flat buffer."""
    import paddle.distributed as dist

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = paddle.concat([g.reshape([-1]) for g in grads])
    dist.all_reduce(flat)
    flat = flat / dist.get_world_size()
    offset = 0
    for g in grads:
        n = int(g.numel())
        g.set_value(flat[offset : offset + n].reshape(g.shape))
        offset += n
