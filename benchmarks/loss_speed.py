"""Time the PicoDet v1 training losses (SimOTA + VFL/GIoU/DFL, forward + backward) on a golden batch; write JSON.

    python benchmarks/loss_speed.py --runs 50 --out loss_speed.json

The batch is a golden `train_step*.npz` (2 images, 320×320, 5 GT boxes). Also times the assignment alone and
the assigner on one image with 50 random GT boxes (the heavy case). Numbers are medians over `--runs` after
`--warmup` untimed runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[2] / "shared/reference/golden/picodet_s_320/train_step_train.npz"


def timed(fn, warmup: int, runs: int) -> dict[str, float]:
    """Latency summary (ms) of `fn()` with the bench module's timer."""
    from picodet_cli.bench.timing import Latency, time_calls

    return Latency.from_seconds(time_calls(lambda _: fn(), warmup, runs)).to_dict()


def random_gts(count: int, size: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` random boxes (8–200 px sides) inside a size×size image, with random classes."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, size - 40, (count, 2))
    boxes = np.concatenate([corner, np.minimum(corner + rng.uniform(8, 200, (count, 2)), size)], axis=1)
    return boxes.astype(np.float32), rng.integers(0, 80, count)


def main() -> None:
    from picodet_cli.bench.host import environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", default=str(GOLDEN), help="a train_step*.npz")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", default="loss_speed.json")
    args = parser.parse_args()

    import paddle

    from picodet_cli.losses import assign_targets, compute_losses

    paddle.set_device("cpu")
    data = np.load(args.golden)
    levels = sum(k.startswith("train_cls_logits_l") for k in data.files)
    num_images = data["train_cls_logits_l0"].shape[0]
    boxes = [data[f"gt_bbox_{b}"] for b in range(num_images)]
    classes = [data[f"gt_class_{b}"] for b in range(num_images)]

    def head_outputs(images: slice) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        cls = [paddle.to_tensor(data[f"train_cls_logits_l{i}"][images], stop_gradient=False) for i in range(levels)]
        reg = [paddle.to_tensor(data[f"train_bbox_reg_l{i}"][images], stop_gradient=False) for i in range(levels)]
        return cls, reg

    cls, reg = head_outputs(slice(None))

    def forward_backward() -> None:
        compute_losses(cls, reg, boxes, classes)["loss"].backward()
        for t in (*cls, *reg):
            t.clear_gradient()

    one_cls, one_reg = head_outputs(slice(0, 1))
    many_boxes, many_classes = random_gts(50)
    results = {
        "losses_forward_backward": timed(forward_backward, args.warmup, args.runs),
        "assign_batch": timed(lambda: assign_targets(cls, reg, boxes, classes), args.warmup, args.runs),
        "assign_one_image_50_gts": timed(
            lambda: assign_targets(one_cls, one_reg, [many_boxes], [many_classes]), args.warmup, args.runs
        ),
    }
    for name, stats in results.items():
        print(f"{name}: p50 {stats['p50']:.2f} ms (min {stats['min']:.2f})")
    report = {
        "benchmark": "loss_speed",
        "golden": Path(args.golden).name,
        "batch": {
            "images": num_images,
            "gt_boxes": sum(len(b) for b in boxes),
            "anchors": data["assign_labels_0"].size,
        },
        "host": environment(),
        "paddle": paddle.__version__,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
