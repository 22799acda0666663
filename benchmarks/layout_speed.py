"""Latency with and without the export layout pass (ESNet channels padded to 16), per format; JSON.

    python benchmarks/layout_speed.py --formats onnx,openvino,ncnn,mnn,paddle --out layout_speed.json

A random-init PicoDet-S 416 is exported twice (the pass replaced by the identity for `plain`), then every
artifact is timed in interleaved blocks (see export_speed.py) with 2 threads; rows give p50 per layout and
the padded / plain ratio measured in the same rounds, plus each p50 over plain onnxruntime's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from export_speed import interleaved_latency


def main() -> None:
    import paddle

    import picodet_cli.export.layout as layout
    from picodet_cli.export.formats import get_format
    from picodet_cli.export.pipeline import ExportOptions, run_export
    from picodet_cli.models.registry import build_model
    from picodet_cli.predict.predictor import default_class_names
    from picodet_cli.runtimes.registry import locate_artifact, open_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="picodet-s")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--formats", default="onnx,openvino,ncnn,mnn,paddle")
    parser.add_argument("--runs", type=int, default=120)
    parser.add_argument("--out", type=Path, default=Path("layout_speed.json"))
    args = parser.parse_args()

    names = args.formats.split(",")
    paddle.seed(0)
    model = build_model(args.arch, input_size=args.imgsz)
    padding = layout.pad_channels
    runtimes = {}
    with tempfile.TemporaryDirectory(prefix="picodet-layout-") as tmp:
        for variant in ("plain", "padded"):
            layout.pad_channels = padding if variant == "padded" else (lambda m, multiple=16: m)
            options = ExportOptions([get_format(n) for n in names], Path(tmp) / variant, verify=False)
            run_export(model, args.arch, default_class_names(model.num_classes), options)
            for name in names:
                runtimes[f"{name}:{variant}"] = open_runtime(locate_artifact(Path(tmp) / variant / name), threads=2)
        feed = {"image": np.random.default_rng(0).standard_normal((1, 3, args.imgsz, args.imgsz), np.float32)}
        latency = interleaved_latency(runtimes, feed, 2, args.runs)
    base = latency.get("onnx:plain", {}).get("p50_ms")
    rows = {}
    for name in names:
        plain, padded = latency[f"{name}:plain"]["p50_ms"], latency[f"{name}:padded"]["p50_ms"]
        rows[name] = {"plain_p50_ms": round(plain, 3), "padded_p50_ms": round(padded, 3)}
        rows[name]["padded_over_plain"] = round(padded / plain, 3)
        if base:
            rows[name]["plain_x_onnxruntime"] = round(plain / base, 3)
            rows[name]["padded_x_onnxruntime"] = round(padded / base, 3)
        print(name, json.dumps(rows[name]))
    report = {"model": f"{args.arch}-{args.imgsz} (random init)", "threads": 2, "runs": args.runs}
    report |= {"load_average": [round(x, 2) for x in os.getloadavg()], "formats": rows}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
