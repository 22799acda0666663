"""Export time per format and runtime latency (p50, 2 threads) for a random-init PicoDet-S 416; write JSON.

    python benchmarks/export_speed.py --out export_speed.json

Weights are the architecture's initialisation (timing does not depend on weight values), so this runs
offline once the converters are installed. Export times come from the pipeline's per-step clocks (each
step alone, without the steps it reuses); latency is the median of `--runs` forward passes after `--warmup`
untimed ones, on a fixed random input. Lite is timed for export only: its x86 runner starts a Python 3.10
process per call, so its latency would measure process start-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REFERENCE_MS = {"onnxruntime": 4.75, "ncnn": 6.25, "openvino": 9.3, "mnn": 24.3, "paddle": 46.8}  # from the issue


def latency(runtime, feed: dict[str, np.ndarray], warmup: int, runs: int) -> dict[str, float]:
    for _ in range(warmup):
        runtime.run(feed)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        runtime.run(feed)
        samples.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": statistics.median(samples), "mean_ms": statistics.fmean(samples), "min_ms": min(samples)}


def main() -> None:
    import paddle

    from picodet_cli.export.formats import FORMATS
    from picodet_cli.export.pipeline import ExportOptions, run_export
    from picodet_cli.models.registry import build_model
    from picodet_cli.predictor import default_class_names
    from picodet_cli.runtimes.registry import locate_artifact, open_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="picodet-s")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--formats", default=",".join(f.name for f in FORMATS))
    parser.add_argument("--out", type=Path, default=Path("export_speed.json"))
    args = parser.parse_args()

    paddle.seed(0)
    model = build_model(args.arch, input_size=args.imgsz)
    names = args.formats.split(",")
    with tempfile.TemporaryDirectory(prefix="picodet-bench-") as tmp:
        options = ExportOptions([f for f in FORMATS if f.name in names], Path(tmp), verify=False, target="x86")
        results, steps = run_export(model, args.arch, default_class_names(model.num_classes), options)
        feed = {"image": np.random.default_rng(0).standard_normal((1, 3, args.imgsz, args.imgsz), np.float32)}
        rows = {}
        for result in results:
            row = {"status": result.status, "export_s": round(steps.get(result.name, result.seconds), 3)}
            if result.status == "unverified" and result.name != "lite":
                folder = Path(tmp) / result.name
                runtime = open_runtime(locate_artifact(folder), threads=args.threads)
                row |= {"runtime": runtime.name, "version": runtime.version()}
                row |= latency(runtime, feed, args.warmup, args.runs)
                row["reference_p50_ms"] = REFERENCE_MS.get(runtime.name)
            elif result.error:
                row["error"] = result.error
            rows[result.name] = row
            print(result.name, json.dumps(row))
    report = {
        "model": f"{args.arch}-{args.imgsz} (random init)",
        "threads": args.threads,
        "runs": args.runs,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "formats": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
