"""Training speed of PicoDet-S at 320 px, batch 8, on generated shapes: images per second of the whole step; JSON.

    python benchmarks/train_speed.py --steps 20 --out train_speed.json
    python benchmarks/train_speed.py --steps 20 --variants legacy,current --rounds 2   # before/after, interleaved

Every measurement runs in its own process (MKL reads its settings once per process) with a real `Trainer` on the
demo recipe at 320 px: batch 8, flip only, 1 loader worker, EMA on. After `--warmup` untimed steps, `--steps`
`Trainer.train_step` calls fed by the epoch loaders give img/s of the whole step (data, forward, loss, backward,
update, EMA), then as many steps run the same calls one by one for the per-part times. `cpu_img_per_s` counts the
main process's CPU time instead of wall time: with a single compute thread it approximates the uncontended speed
on a busy machine. Variants, run in turn `--rounds` times:

- current: the code as it is (with picodet's C++ depthwise-conv kernel);
- paddle_kernels: current with Paddle's own depthwise-conv kernels (PICODET_FAST_KERNELS=0);
- legacy: the code before the speed work (MKL's default SSE dispatch on AMD, transpose-based channel shuffle,
  5x5 convs padded inside the conv, Paddle's kernels);
- threads1: current with 1 math thread (`train.threads = 1`; the default 0 takes every core);
- paddle_hardswish: current with Paddle's hard-swish (its gradient) instead of picodet's;
- v2: current with PicoDet v2-S (LCNet x0.75, LCPAN, PicoHeadV2; ATSS assignment, the first epochs' phase).

The reference is the original trainer on the issue's 2-core CPU: 8.3-9.0 img/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REFERENCE_IMG_PER_S = (8.3, 9.0)
INPUT_SIZE = 320
BATCH = 8
VARIANTS = ("current", "paddle_kernels", "legacy", "threads1", "paddle_hardswish", "v2")
PARTS = ("data", "forward", "loss", "backward", "optimizer", "ema")


def legacy_shuffle_forward(block: Any, x: Any) -> Any:
    """ESBlock.forward as it was: concat, then reshape / transpose / reshape."""
    import paddle

    x1, x2 = paddle.split(x, 2, axis=1)
    x2 = block._conv_pw(x2)
    x3 = paddle.concat([x2, block._conv_dw(x2)], axis=1)
    x3 = paddle.concat([x1, block._conv_linear(block._se(x3))], axis=1)
    _, channels, height, width = x3.shape
    x3 = paddle.transpose(paddle.reshape(x3, [0, 2, channels // 2, height * width]), [0, 2, 1, 3])
    return paddle.reshape(x3, [0, channels, height, width])


def batches(trainer: Any) -> Iterator[dict[str, Any]]:
    """The training batches epoch after epoch, as `Trainer.fit` makes them (a new loader per epoch)."""
    from picodet_cli.data.loader import make_train_loader

    cfg, aug = trainer.cfg, trainer.recipe.augment
    for epoch in range(10**6):
        yield from make_train_loader(
            trainer.train_index, cfg.batch_size, list(aug.sizes), aug.flip, aug.crop, aug.distort,
            aug.random_interp, cfg.workers, cfg.seed, epoch,
        )  # fmt: skip


def timed_parts(trainer: Any, batch: dict[str, Any]) -> dict[str, float]:
    """One training step made of the calls `Trainer.train_step` makes, each timed (seconds)."""
    import paddle

    model, times = trainer.model, {}
    start = time.perf_counter()
    trainer.optimizer.set_lr(trainer.schedule(trainer.state.step))
    outputs = model.head_outputs(paddle.to_tensor(batch["image"]))
    times["forward"] = time.perf_counter() - start
    start = time.perf_counter()
    losses = model.losses(outputs, batch["gt_bboxes"], batch["gt_classes"], epoch=trainer.state.epoch)
    times["loss"] = time.perf_counter() - start
    start = time.perf_counter()
    losses["loss"].backward()
    times["backward"] = time.perf_counter() - start
    start = time.perf_counter()
    trainer.optimizer.step()
    trainer.optimizer.clear_grad()
    times["optimizer"] = time.perf_counter() - start
    start = time.perf_counter()
    trainer.ema.update(model)
    float(losses["loss"])
    times["ema"] = time.perf_counter() - start
    trainer.state.step += 1
    return times


def measure(variant: str, data_root: Path, warmup: int, steps: int) -> dict[str, Any]:
    """Run one variant in this process; its timings."""
    if variant in ("legacy", "paddle_kernels"):
        os.environ["PICODET_FAST_KERNELS"] = "0"
    if variant == "legacy":
        os.environ["MKL_DEBUG_CPU_TYPE"] = ""  # set but empty: MKL's default dispatch, and the trainer keeps out
    import paddle

    from picodet_cli.data.synthetic import generate_shapes_dataset
    from picodet_cli.engine.trainer import Trainer
    from picodet_cli.models.backbones.esnet import ESBlock
    from picodet_cli.models.layers import TrainConv2D
    from picodet_cli.pipelines.demo import demo_overrides
    from picodet_cli.recipe.loader import load_recipe

    paddle.set_device("cpu")
    if variant == "legacy":
        ESBlock.forward = legacy_shuffle_forward
        TrainConv2D.forward = paddle.nn.Conv2D.forward
    if variant == "paddle_hardswish":
        from picodet_cli.models import layers

        layers._ACTS["hard_swish"] = paddle.nn.functional.hardswish
    dataset = generate_shapes_dataset(data_root, 360, 60, INPUT_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        sets = [*demo_overrides(dataset, Path(tmp), quick=False), f"model.input_size={INPUT_SIZE}"]
        sets += [f"augment.sizes=[{INPUT_SIZE}]", f"train.batch_size={BATCH}"]
        if variant == "v2":
            sets.append("model.arch=picodet-s-v2")
        if variant in ("legacy", "threads1"):  # legacy: the original trainer runs Paddle's default of one thread
            sets.append("train.threads=1")
        trainer = Trainer(load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "demo.toml", sets))
        trainer.model.train()
        stream = batches(trainer)
        first = time.perf_counter()
        batch = next(stream)
        first_batch_s = time.perf_counter() - first
        for _ in range(warmup):
            trainer.train_step(batch)
            batch = next(stream)
        wall, cpu, waits = time.perf_counter(), time.process_time(), 0.0
        for _ in range(steps):
            trainer.train_step(batch)
            start = time.perf_counter()
            batch = next(stream)
            waits += time.perf_counter() - start
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        parts: dict[str, list[float]] = {k: [] for k in PARTS}
        for _ in range(steps):
            for key, value in timed_parts(trainer, batch).items():
                parts[key].append(value)
            start = time.perf_counter()
            batch = next(stream)
            parts["data"].append(time.perf_counter() - start)
    return {
        "variant": variant,
        "img_per_s": BATCH * steps / wall,
        "cpu_img_per_s": BATCH * steps / cpu,
        "step_s": wall / steps,
        "data_wait_s": waits / steps,
        "first_batch_s": first_batch_s,
        "parts_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "load_average": os.getloadavg(),
    }


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", variant, "--data", str(args.data)]
    command += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians per variant, and speed-ups over the first variant taken round by round (similar load on both sides)."""
    variants = list(rounds[0])
    summary = {}
    for variant in variants:
        mine = [r[variant] for r in rounds]
        summary[variant] = {k: statistics.median(r[k] for r in mine) for k in ("img_per_s", "cpu_img_per_s")}
        summary[variant]["parts_median_s"] = {k: statistics.median(r["parts_median_s"][k] for r in mine) for k in PARTS}
        for key in ("img_per_s", "cpu_img_per_s"):
            ratios = [r[variant][key] / r[variants[0]][key] for r in rounds]
            summary[variant][f"{key}_ratio_vs_{variants[0]}"] = statistics.median(ratios)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (twice: whole steps, then by part)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variants", default="current", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--rounds", type=int, default=1, help="times each variant runs (interleaved)")
    parser.add_argument("--data", type=Path, default=None, help="where to generate (or reuse) the dataset")
    parser.add_argument("--out", default="train_speed.json")
    parser.add_argument("--measure", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data is None:
        from picodet_cli.settings import get_settings

        args.data = get_settings().cache_dir / "datasets" / f"bench-shapes-{INPUT_SIZE}"
    if args.measure:
        print(json.dumps(measure(args.measure, args.data, args.warmup, args.steps)))
        return
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    rounds: list[dict[str, dict[str, Any]]] = []
    for round_ in range(args.rounds):
        rounds.append({})
        for variant in variants:
            r = rounds[-1][variant] = run_variant(variant, args)
            print(
                f"round {round_ + 1} {variant}: {r['img_per_s']:.2f} img/s (CPU-time based {r['cpu_img_per_s']:.2f}), "
                f"load {r['load_average'][0]:.1f}"
            )
    import paddle

    report = {
        "benchmark": "train_speed",
        "setup": {"model": "picodet-s", "input_size": INPUT_SIZE, "batch_size": BATCH, "steps": args.steps},
        "reference_img_per_s": list(REFERENCE_IMG_PER_S),
        "host": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()},
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "summary": summarize(rounds),
        "rounds": rounds,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"reference (original trainer, issue's CPU): {REFERENCE_IMG_PER_S[0]}-{REFERENCE_IMG_PER_S[1]} img/s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
