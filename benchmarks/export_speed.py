"""Export time per format and runtime latency (p50, 2 threads) for a random-init PicoDet-S 416; write JSON.

    python benchmarks/export_speed.py --out export_speed.json [--opsets 11,14]

Weights are the architecture's initialisation (timing does not depend on weight values), so this runs
offline once the converters are installed. Each `--opsets` value is a separate export (opset 14 writes
HardSwish as one op instead of HardSigmoid + Mul); rows are `<format>@<opset>` for the ONNX-based formats.
Export times come from the pipeline's per-step clocks (each step alone, without the steps it reuses).

Latency: every artifact is loaded first, then rounds give each artifact in turn a pause, `--warmup` untimed
and 10 timed runs until `--runs` are timed, so load from other processes hits all of them alike; each row
has its p50, the
issue's reference for its runtime, and its ratio to onnxruntime on the default opset measured in the same
rounds (compare ratios across machines, not milliseconds); `within_reference` says whether that ratio is at
most the issue's (its reference over onnxruntime's 4.75 ms). Lite is timed for export only: its x86 runner
starts a Python 3.10 process per call, so its latency would measure process start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_MS = {"onnxruntime": 4.75, "ncnn": 6.25, "openvino": 9.3, "mnn": 24.3, "paddle": 46.8}  # from the issue
TARGET_BEST_FP32_MS = 3.5  # the target for the best FP32 artifact (FLOP floor: 2.3 ms)
BLOCK = 10  # consecutive timed runs of one runtime
SWITCH_PAUSE_S = 0.3  # lets the previous runtime's spinning threads go idle


def export_rows(model: Any, names: list[str], opset: int, out: Path) -> dict[str, dict[str, Any]]:
    """Export `names` at `opset` into `out` (no verification); rows keyed by format (@opset when it applies)."""
    from picodet_cli.export.formats import FORMATS
    from picodet_cli.export.pipeline import ExportOptions, run_export
    from picodet_cli.predict.predictor import default_class_names

    formats = [f for f in FORMATS if f.name in names]
    options = ExportOptions(formats, out, opset=opset, verify=False, target="x86")
    results, steps = run_export(model, "picodet", default_class_names(model.num_classes), options)
    rows = {}
    for result, fmt in zip(results, formats, strict=True):
        row: dict[str, Any] = {"status": result.status, "export_s": round(steps.get(result.name, result.seconds), 3)}
        if result.error:
            row["error"] = result.error
        elif result.name != "lite":
            row["folder"] = str(out / result.name)
        rows[f"{result.name}@{opset}" if fmt.opset else result.name] = row
    return rows


def interleaved_latency(runtimes: dict[str, Any], feed: dict[str, np.ndarray], warmup: int, runs: int) -> dict:
    """p50 / mean / min in ms per runtime, over rounds that give every runtime a block of consecutive runs.

    Each block starts after a pause and `warmup` untimed runs: Paddle's Intel OpenMP threads keep spinning for
    200 ms after their last run (KMP_BLOCKTIME), and would otherwise steal the cores from the next runtime.
    """
    samples: dict[str, list[float]] = {key: [] for key in runtimes}
    for _ in range(math.ceil(runs / BLOCK)):
        for key, runtime in runtimes.items():
            time.sleep(SWITCH_PAUSE_S)
            for _ in range(warmup):
                runtime.run(feed)
            for _ in range(BLOCK):
                start = time.perf_counter()
                runtime.run(feed)
                samples[key].append((time.perf_counter() - start) * 1000)
    return {
        key: {"p50_ms": statistics.median(s), "mean_ms": statistics.fmean(s), "min_ms": min(s)}
        for key, s in samples.items()
    }


def main() -> None:
    import paddle

    from picodet_cli.export.formats import DEFAULT_OPSET, FORMATS
    from picodet_cli.models.registry import build_model
    from picodet_cli.runtimes.registry import locate_artifact, open_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="picodet-s")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each block")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--formats", default=",".join(f.name for f in FORMATS))
    parser.add_argument("--opsets", default=f"{DEFAULT_OPSET},14", help="one export per opset (first: the baseline)")
    parser.add_argument("--out", type=Path, default=Path("export_speed.json"))
    args = parser.parse_args()

    paddle.seed(0)
    model = build_model(args.arch, input_size=args.imgsz)
    names, opsets = args.formats.split(","), [int(o) for o in args.opsets.split(",")]
    baseline = f"onnx@{opsets[0]}"
    with tempfile.TemporaryDirectory(prefix="picodet-bench-") as tmp:
        rows: dict[str, dict[str, Any]] = {}
        for i, opset in enumerate(opsets):  # later opsets only redo the formats that take --opset
            again = names if i == 0 else [n for n in names if any(f.name == n and f.opset for f in FORMATS)]
            rows |= export_rows(model, again, opset, Path(tmp) / f"opset{opset}")
        runtimes = {}
        for key, row in rows.items():
            if "folder" in row:
                runtime = open_runtime(locate_artifact(row.pop("folder")), threads=args.threads)
                runtimes[key] = runtime
                row |= {"runtime": runtime.name, "version": runtime.version()}
        feed = {"image": np.random.default_rng(0).standard_normal((1, 3, args.imgsz, args.imgsz), np.float32)}
        latencies = interleaved_latency(runtimes, feed, args.warmup, args.runs)
    base = latencies.get(baseline, {}).get("p50_ms")
    for key, timing in latencies.items():
        row = rows[key]
        reference = REFERENCE_MS.get(row["runtime"])
        row |= {k: round(v, 3) for k, v in timing.items()} | {"reference_p50_ms": reference}
        if base:
            row["x_onnxruntime"] = round(timing["p50_ms"] / base, 3)
        if reference and base and row["runtime"] != "onnxruntime":  # the reference ratio, from the numbers
            row["within_reference"] = row["x_onnxruntime"] <= reference / REFERENCE_MS["onnxruntime"]
    for key, row in rows.items():
        print(key, json.dumps(row))
    report = {
        "model": f"{args.arch}-{args.imgsz} (random init)",
        "threads": args.threads,
        "runs": args.runs,
        "baseline": baseline,
        "target_best_fp32_ms": TARGET_BEST_FP32_MS,
        "machine": {
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
        },
        "formats": rows,
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
