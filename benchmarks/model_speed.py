"""Time eval-mode forward and the full predict path of zoo models on this CPU; write JSON.

    python benchmarks/model_speed.py --models s-320,s-416,l-640 --runs 20 --out model_speed.json

Weights are the architecture's initialisation (timing does not depend on weight values), so this runs
offline. Numbers are medians over `--runs` after `--warmup` untimed runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def timed(fn, warmup: int, runs: int) -> dict[str, float]:
    """Latency summary (ms) of `fn()` with the bench module's timer."""
    from picodet_cli.bench.timing import Latency, time_calls

    return Latency.from_seconds(time_calls(lambda _: fn(), warmup, runs)).to_dict()


def main() -> None:
    from picodet_cli.bench.host import environment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="s-320,s-416,l-640")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--image", default=str(Path(__file__).resolve().parents[1] / "picodet_cli/assets/astronaut.jpg")
    )
    parser.add_argument("--out", default="model_speed.json")
    args = parser.parse_args()

    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.predict.predictor import Detector

    paddle.set_device("cpu")
    results = []
    for name in args.models.split(","):
        model = build_model(name)
        model.eval()
        size = model.input_size
        image = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32))
        with paddle.no_grad():
            forward = timed(lambda m=model, x=image: m.head_outputs(x), args.warmup, args.runs)
        detector = Detector(model, score_threshold=0.0)
        predict = timed(lambda d=detector: d.predict(args.image), args.warmup, args.runs)
        results.append({"model": name, "input_size": size, "forward": forward, "predict_end_to_end": predict})
        print(f"{name}: forward p50 {forward['p50']:.1f} ms, predict p50 {predict['p50']:.1f} ms")
    report = {
        "benchmark": "model_speed",
        "host": environment(),
        "paddle": paddle.__version__,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
