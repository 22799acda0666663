"""Data-parallel training through `paddle.distributed.launch` (GPUs when present, CPU processes with gloo)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import paddle


def launch(
    recipe: Path,
    overrides: list[str],
    devices: int,
    resume: bool,
    nnodes: int = 1,
    node_rank: int = 0,
    master: str | None = None,
) -> int:
    """Run `devices` training processes on this machine with Paddle's launcher; returns its exit code.

    With `nnodes` > 1 this machine is node `node_rank` of a job whose rank-0 machine serves the rendezvous at
    `master` (HOST:PORT); every machine runs the same command with its own `node_rank`. GPUs with NCCL when
    Paddle is a GPU build, CPU processes over gloo otherwise. Logs: `<output.dir>/dist_logs[/node<K>]/`.
    """
    from ..recipe.loader import load_recipe

    command = launch_command(recipe, overrides, devices, resume, nnodes, node_rank, master)
    run_dir = Path(load_recipe(recipe, overrides).output.dir)
    if node_rank == 0:
        from ..io import write_json_atomic

        info = {"recipe": str(Path(recipe).resolve()), "overrides": overrides, "devices": devices, "nnodes": nnodes}
        write_json_atomic(run_dir / "run.json", info)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path]))
    return subprocess.call(command, env=env)


def launch_command(
    recipe: Path,
    overrides: list[str],
    devices: int,
    resume: bool,
    nnodes: int = 1,
    node_rank: int = 0,
    master: str | None = None,
) -> list[str]:
    """The `python -m paddle.distributed.launch ...` command line for this machine."""
    from ..errors import PicodetError
    from ..recipe.loader import load_recipe

    if nnodes > 1 and not master:
        raise PicodetError("multi-node training needs --master HOST:PORT", "the rank-0 machine's address and a port")
    if not 0 <= node_rank < nnodes:
        raise PicodetError(f"--node-rank {node_rank} is not in 0..{nnodes - 1}", "number the machines 0..nnodes-1")
    if master and not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", master):
        raise PicodetError(f"--master {master!r} is not HOST:PORT", "e.g. --master 10.0.0.1:8470")
    log_dir = Path(load_recipe(recipe, overrides).output.dir) / "dist_logs"
    log_dir = log_dir / f"node{node_rank}" if nnodes > 1 else log_dir
    worker = Path(__file__).with_name("dist_worker.py")
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(devices),
               "--log_dir", str(log_dir)]  # fmt: skip
    if nnodes > 1:
        host = master.rsplit(":", 1)[0].strip("[]")
        command += ["--nnodes", str(nnodes), "--rank", str(node_rank), "--master", master]
        command += ["--host", host] if host in ("127.0.0.1", "localhost") else []
    if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        command += ["--devices", ",".join(str(i) for i in range(devices))]
    command += [str(worker), "--recipe", str(recipe), *[arg for o in overrides for arg in ("--set", o)]]
    return command + (["--resume"] if resume else [])


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
