"""How fast the demo learns: train recipes/demo.toml from scratch per seed, record loss and mAP50 over time; JSON.

    python benchmarks/demo_convergence.py --seeds 0,1,2 --out demo_convergence.json
    python benchmarks/demo_convergence.py --seeds 0 --minutes 10 --eval-interval 2

The dataset is the demo's (360 train / 60 val images of 4 shapes, generated once into the cache; another training
count with `--train-images N --data FOLDER`). Each seed runs the real `Trainer` on the demo recipe with
`train.seed=S`, evaluating every `--eval-interval` epochs (the model the trainer evaluates: the EMA when the recipe
keeps one). Times are wall-clock seconds since training started, with and without the evaluations. The goal (from
the issue): mAP50 >= 0.8 within 10 minutes on a 2-core CPU, every seed; on a machine shared with other jobs the
times stretch accordingly (the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_MAP50, GOAL_MINUTES = 0.8, 10.0
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "demo.toml"


class CurveReporter:
    """Trainer reporter that keeps (time, loss) per step and (time, mAP) per evaluation."""

    def __init__(self) -> None:
        self.start_time = time.monotonic()
        self.eval_seconds = 0.0
        self.eval_started: float | None = None
        self.losses: list[dict[str, float]] = []
        self.evals: list[dict[str, float]] = []

    def elapsed(self) -> dict[str, float]:
        wall = time.monotonic() - self.start_time
        return {"t": round(wall, 2), "t_train": round(wall - self.eval_seconds, 2)}

    def start(self, trainer: Any, total_steps: int) -> None:
        self.start_time = time.monotonic()

    def step(self, trainer: Any, values: dict[str, float]) -> None:
        record = {"step": trainer.state.step, "epoch": trainer.state.epoch, "lr": values["lr"], "loss": values["loss"]}
        self.losses.append(record | self.elapsed())

    def note(self, message: str) -> None:
        if message.startswith("evaluating"):
            self.eval_started = time.monotonic()

    def eval(self, trainer: Any, metrics: dict[str, float]) -> None:
        if self.eval_started is not None:
            self.eval_seconds += time.monotonic() - self.eval_started
            self.eval_started = None
        record = {"step": trainer.state.step, "epoch": trainer.state.epoch, **metrics} | self.elapsed()
        self.evals.append(record)
        print(
            f"  epoch {record['epoch']} step {record['step']}: mAP50 {metrics['map50']:.3f} "
            f"(mAP {metrics['map']:.3f}) at {record['t'] / 60:.1f} min",
            flush=True,
        )

    def stop(self) -> None: ...


def train_seed(seed: int, dataset: Any, out: Path, extra: list[str]) -> dict[str, Any]:
    from picodet_cli.engine.trainer import Trainer
    from picodet_cli.pipelines.demo import demo_overrides
    from picodet_cli.recipe.loader import load_recipe

    sets = [*demo_overrides(dataset, out, quick=False), f"train.seed={seed}", *extra]
    recipe = load_recipe(RECIPE, sets)
    reporter = CurveReporter()
    load_before = os.getloadavg()
    result = Trainer(recipe, reporter=reporter).fit()
    reached = [e for e in reporter.evals if e["map50"] >= GOAL_MAP50]
    return {
        "seed": seed,
        "overrides": [f"train.seed={seed}", *extra],
        "epochs_done": result.epochs_done,
        "steps": result.steps,
        "final_map50": reporter.evals[-1]["map50"] if reporter.evals else None,
        "best_map50": max((e["map50"] for e in reporter.evals), default=None),
        "first_goal_minutes": reached[0]["t"] / 60 if reached else None,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "evals": reporter.evals,
        "losses": reporter.losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (the cosine follows)")
    parser.add_argument("--minutes", type=float, default=None, help="stop each seed after this long (train.time_limit)")
    parser.add_argument("--eval-interval", type=int, default=2, help="evaluate every this many epochs")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="more recipe overrides")
    parser.add_argument("--data", type=Path, default=None, help="where to generate (or reuse) the dataset")
    parser.add_argument("--train-images", type=int, default=None, help="generate this many training images")
    parser.add_argument("--out", default="demo_convergence.json")
    args = parser.parse_args()
    if args.train_images and not args.data:
        parser.error("--train-images needs --data FOLDER (the demo's own dataset in the cache stays as it is)")

    from picodet_cli.data.synthetic import generate_shapes_dataset
    from picodet_cli.pipelines.demo import IMAGES
    from picodet_cli.recipe.loader import load_recipe
    from picodet_cli.settings import get_settings
    from picodet_cli.toolchain.doctor import cpu_info

    base = load_recipe(RECIPE)
    root = args.data or get_settings().cache_dir / "datasets" / "demo-shapes"
    train_images, val_images = IMAGES
    dataset = generate_shapes_dataset(root, args.train_images or train_images, val_images, base.model.input_size)
    extra = [f"train.eval_interval={args.eval_interval}", *args.sets]
    if args.epochs is not None:
        extra += [f"train.epochs={args.epochs}", f"train.cosine_epochs={args.epochs}"]
    if args.minutes is not None:
        extra.append(f"train.time_limit={args.minutes}")
    report: dict[str, Any] = {
        "benchmark": "demo_convergence",
        "goal": {"map50": GOAL_MAP50, "minutes": GOAL_MINUTES},
        "recipe": str(RECIPE),
        "dataset": {"train_images": len(list(dataset.train_images.iterdir())), "val_images": val_images},
        "host": cpu_info(),
        "seeds": [],
    }
    for seed in (int(s) for s in args.seeds.split(",")):
        print(f"seed {seed}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            report["seeds"].append(train_seed(seed, dataset, Path(tmp), extra))
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        run = report["seeds"][-1]
        print(f"seed {seed}: best mAP50 {run['best_map50']}, goal reached at {run['first_goal_minutes']} min")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
