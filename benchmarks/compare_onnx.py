"""Compare our exported ONNX with a reference ONNX of the same architecture (e.g. PaddleDetection's); JSON.

    python benchmarks/compare_onnx.py --against picodet_s_320_coco.onnx --arch picodet-s [--weights W] --out cmp.json

Our model is exported at the reference's input size (post-processing none, as the reference deploy layout).
Reported: node count and per-op counts of both graphs (and the ops only one of them has), initializer size,
and onnxruntime latency of both on the same random input with the same thread count, with the ratio
ours / reference.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def graph_stats(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path))
    ops = collections.Counter(node.op_type for node in model.graph.node)
    weights = sum(np.prod(t.dims, dtype=np.int64) for t in model.graph.initializer)
    return {
        "path": str(path), "nodes": len(model.graph.node), "ops": dict(sorted(ops.items())),
        "parameters": int(weights), "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "size_mb": round(path.stat().st_size / 1e6, 4),
    }  # fmt: skip


def ort_latency(path: Path, image: np.ndarray, threads: int, warmup: int, runs: int) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {}
    for spec in session.get_inputs():  # the image, plus scale_factor / im_shape for graphs with NMS inside
        feed[spec.name] = image if len(spec.shape) == 4 else np.ones((1, 2), np.float32)
    for _ in range(warmup):
        session.run(None, feed)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": statistics.median(samples), "mean_ms": statistics.fmean(samples), "min_ms": min(samples)}


def export_ours(arch: str, weights: str | None, size: int, num_classes: int, out: Path) -> Path:
    from picodet_cli.export.formats import get_format
    from picodet_cli.export.pipeline import ExportOptions, run_export
    from picodet_cli.models.pretrained import create_model
    from picodet_cli.predict.predictor import default_class_names

    model = create_model(arch, weights, num_classes=num_classes, input_size=size).model
    options = ExportOptions([get_format("onnx")], out, verify=False)
    (result,), _ = run_export(model, arch, default_class_names(model.num_classes), options)
    if result.status not in ("ok", "unverified"):
        raise SystemExit(f"our ONNX export failed: {result.error}")
    return out / "onnx" / "model.onnx"


def main() -> None:
    import onnxruntime as ort

    from picodet_cli.export.metadata import infer_metadata, read_onnx_metadata

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="reference ONNX file")
    parser.add_argument("--arch", default="picodet-s", help="our architecture (or zoo name) to export")
    parser.add_argument("--weights", default=None, help="our checkpoint (default: initialisation weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("compare_onnx.json"))
    args = parser.parse_args()

    session = ort.InferenceSession(str(args.against), providers=["CPUExecutionProvider"])
    meta = read_onnx_metadata(dict(session.get_modelmeta().custom_metadata_map)) or infer_metadata(
        session.get_inputs()[0].shape, [o.shape for o in session.get_outputs()]
    )
    size, num_classes = int(meta["input_size"][0]), int(meta["num_classes"])
    image = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="picodet-compare-") as tmp:
        ours = export_ours(args.arch, args.weights, size, num_classes, Path(tmp))
        stats = {"ours": graph_stats(ours), "reference": graph_stats(args.against)}
        timing = {
            "ours": ort_latency(ours, image, args.threads, args.warmup, args.runs),
            "reference": ort_latency(args.against, image, args.threads, args.warmup, args.runs),
        }
    ops_ours, ops_ref = stats["ours"]["ops"], stats["reference"]["ops"]
    every_op = sorted(set(ops_ours) | set(ops_ref))
    report = {
        "input_size": size, "num_classes": num_classes, "threads": args.threads, "onnxruntime": ort.__version__,
        "graphs": stats,
        "ops_only_ours": sorted(set(ops_ours) - set(ops_ref)),
        "ops_only_reference": sorted(set(ops_ref) - set(ops_ours)),
        "op_count_diff": {op: ops_ours.get(op, 0) - ops_ref.get(op, 0) for op in every_op
                          if ops_ours.get(op, 0) != ops_ref.get(op, 0)},
        "latency": timing, "latency_ratio_p50": timing["ours"]["p50_ms"] / timing["reference"]["p50_ms"],
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps({k: report[k] for k in ("input_size", "latency_ratio_p50", "ops_only_ours", "ops_only_reference")})
    )


if __name__ == "__main__":
    main()
