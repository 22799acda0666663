"""`picodet bench` numbers for S-320, S-416 and L-640 in every CPU format; one JSON file.

    python benchmarks/bench_formats.py --out bench_formats.json [--runs 50] [--threads 2] [--pretrained]

By default the architectures are benchmarked with their initialisation weights (latency does not depend on
weight values, so this runs offline); `--pretrained` uses the zoo checkpoints and adds the published rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MODELS = {"s-320": ("picodet-s", 320), "s-416": ("picodet-s", 416), "l-640": ("picodet-l", 640)}


def main() -> None:
    from picodet_cli.bench import bench
    from picodet_cli.bench.request import BenchRequest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="subset of " + ", ".join(MODELS))
    parser.add_argument("--formats", default="paddle,onnx,openvino,ncnn,mnn,lite")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pretrained", action="store_true", help="zoo weights (needs the cache or the network)")
    parser.add_argument("--out", type=Path, default=Path("bench_formats.json"))
    args = parser.parse_args()

    results = {}
    for name in args.models.split(","):
        arch, size = MODELS[name]
        model, imgsz = (name, None) if args.pretrained else (arch, size)
        print(f"{name}: benchmarking {args.formats} ...", file=sys.stderr)
        report = bench(BenchRequest(
            model, formats=args.formats, threads=args.threads, imgsz=imgsz, warmup=args.warmup, runs=args.runs,
            verify=False, command=sys.argv,
        ))  # fmt: skip
        results[name] = report.to_dict()
        for row in report:
            mean = f"{row.latency.mean:.2f} ms" if row.latency else row.error or row.note
            print(f"  {row.format:9} {row.status:9} {mean}", file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
