"""One data-parallel training process, started by `paddle.distributed.launch` (see distributed.launch)."""

from __future__ import annotations

import argparse
import hashlib

import paddle.distributed as dist

from picodet_cli.engine.distributed import all_reduce_mean, sync_gradients
from picodet_cli.engine.trainer import Trainer
from picodet_cli.recipe.loader import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    dist.init_parallel_env()
    rank, world = dist.get_rank(), dist.get_world_size()
    trainer = Trainer(
        load_recipe(args.recipe, args.set),
        resume=args.resume,
        rank=rank,
        world_size=world,
        grad_sync=sync_gradients,
        num_pos_reduce=all_reduce_mean,
    )
    if world > 1:  # every rank starts from rank 0's initial weights
        for param in trainer.model.parameters():
            dist.broadcast(param, src=0)
    result = trainer.fit()
    checksum = sum(float(p.sum()) for p in trainer.model.parameters() if not p.stop_gradient)
    digest = hashlib.sha256()  # of the trained parameters (BatchNorm statistics stay per rank, as upstream)
    for name, value in sorted(trainer.model.named_parameters()):
        if not value.stop_gradient:
            digest.update(name.encode() + value.numpy().tobytes())
    print(
        f"rank {rank}/{world}: steps {result.steps} param-checksum {checksum:.8f} weights-sha256 {digest.hexdigest()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
