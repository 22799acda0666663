"""PicoDet v1 vs v2 latency per runtime at the same size and width (S-416, L-640): p50 per model, v2 / v1; JSON.

    python benchmarks/generation_speed.py --pairs s-416:s-416-v2,l-640:l-640-v2 --formats onnx,openvino,ncnn,mnn,paddle

Random-init weights (latency does not depend on their values). Each pair is exported to every format in one run
(no verification), then all artifacts of the pair are timed in interleaved blocks (export_speed.py: a pause and
warm-up runs before every block; onnxruntime's intra-op spinning is off in its adapter), 2 threads, so both
generations see the same machine load. The JSON records the CPU model and flags and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from export_speed import interleaved_latency


def cpu_model_and_flags() -> dict[str, object]:
    """/proc/cpuinfo's model name and flags (empty elsewhere)."""
    info: dict[str, object] = {"model": "", "flags": []}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name" and not info["model"]:
                info["model"] = value
            elif key == "flags" and not info["flags"]:
                info["flags"] = value.split()
    except OSError:
        pass
    return info


def main() -> None:
    import paddle

    from picodet_cli.export.formats import get_format
    from picodet_cli.export.pipeline import ExportOptions, run_export
    from picodet_cli.models.registry import build_model
    from picodet_cli.predict.predictor import default_class_names
    from picodet_cli.runtimes.registry import locate_artifact, open_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="s-416:s-416-v2,l-640:l-640-v2", help="v1:v2 zoo names, comma-separated")
    parser.add_argument("--formats", default="onnx,openvino,ncnn,mnn,paddle")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("generation_speed.json"))
    args = parser.parse_args()

    names = args.formats.split(",")
    rows = []
    for pair in args.pairs.split(","):
        v1, v2 = pair.split(":")
        runtimes, size = {}, None
        with tempfile.TemporaryDirectory(prefix="picodet-gen-") as tmp:
            for model_name in (v1, v2):
                paddle.seed(0)
                model = build_model(model_name)
                size = model.input_size
                options = ExportOptions([get_format(n) for n in names], Path(tmp) / model_name, verify=False)
                run_export(model, model_name, default_class_names(model.num_classes), options)
                for name in names:
                    artifact = locate_artifact(Path(tmp) / model_name / name)
                    runtimes[f"{name}:{model_name}"] = open_runtime(artifact, threads=args.threads)
            feed = {"image": np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)}
            latency = interleaved_latency(runtimes, feed, 2, args.runs)
        for name in names:
            a, b = latency[f"{name}:{v1}"]["p50_ms"], latency[f"{name}:{v2}"]["p50_ms"]
            row = {"v1": v1, "v2": v2, "format": name, "v1_p50_ms": round(a, 3), "v2_p50_ms": round(b, 3)}
            rows.append(row | {"v2_over_v1": round(b / a, 3)})
            print(json.dumps(rows[-1]))
    report = {
        "benchmark": "generation_speed",
        "cpu": cpu_model_and_flags(),
        "threads": args.threads,
        "runs": args.runs,
        "weights": "random init",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
