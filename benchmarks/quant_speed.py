"""FP32 vs INT8 latency per runtime (onnxruntime, OpenVINO) for S-416, L-640 and the demo model; write JSON.

    python benchmarks/quant_speed.py --out quant_speed.json [--models s-416,l-640,demo] [--demo-weights W]
                                     [--repeats 3] [--threads 2]

Per model: the quantize run's FP32 ONNX (channels padded, opset 14; random weights unless `--demo-weights`:
latency does not depend on them), its onnxruntime INT8 (fused QDQ) model and one OpenVINO INT8 (NNCF) model per
scheme `picodet quantize` chooses from (`nncf_int8.SCHEMES`, fastest first; "openvino/int8" is the first, what it
writes without validation data), calibrated on random images. All are timed in interleaved rounds (onnxruntime's
thread spinning off), `--repeats` times, so every ratio comes from one run on a shared machine; the JSON records the
CPU model and its flags.
Targets (issue 16, VNNI CPU, 2 threads, batch 1): best INT8 / best FP32 of any runtime <= 0.6 (L-640) and <= 0.8
(S-416); every INT8 model no slower than FP32 in its own runtime.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MODELS = {"s-416": ("picodet-s", 416, 80), "l-640": ("picodet-l", 640, 80), "demo": ("picodet-s", 256, 4)}
TARGETS = {"l-640": 0.6, "s-416": 0.8}


def cpu() -> dict:
    """CPU model name and flags from /proc/cpuinfo."""
    model, flags = "", []
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = value.split()
    return {"model": model, "flags": flags, "int8_flags": [f for f in flags if "vnni" in f or f.startswith("amx")]}


def versions() -> dict[str, str]:
    """Versions of the runtimes and quantizers timed."""
    from importlib.metadata import version

    return {name: version(name) for name in ("onnxruntime", "openvino", "nncf")}


def build(key: str, work: Path, demo_weights: Path | None) -> tuple[dict[str, tuple[Path, str]], dict]:
    """FP32 ONNX, onnxruntime INT8 and OpenVINO INT8 of one model: ({label: (path, runtime)}, per runtime the
    integer / FP32 conv counts of its compiled graph)."""
    import numpy as np
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.artifacts import artifact_meta, export_fp32
    from picodet_cli.slim.nncf_int8 import SCHEMES, quantize_openvino_int8
    from picodet_cli.slim.onnx_int8 import quantize_onnx_int8

    arch, size, classes = MODELS[key]
    paddle.seed(0)
    model = build_model(arch, num_classes=classes, input_size=size)
    if key == "demo" and demo_weights is not None:
        from picodet_cli.hub.safe_load import load_state_dict

        model.set_state_dict({k: paddle.to_tensor(v) for k, v in load_state_dict(demo_weights).items()})
    names = [str(i) for i in range(classes)]
    folder = work / key
    fp32 = export_fp32(model, key, names, folder)["onnx"]
    calib = np.random.default_rng(0).uniform(-2, 2, (16, 3, size, size)).astype(np.float32)
    ort_int8 = quantize_onnx_int8(fp32, calib, folder / "onnx_int8.onnx", artifact_meta(model, key, names, "onnx"))
    files = {
        "onnxruntime/fp32": (fp32, "onnxruntime"),
        "onnxruntime/int8": (folder / "onnx_int8.onnx", "onnxruntime"),
        "openvino/fp32": (fp32, "openvino"),
    }
    layers = {"onnxruntime": ort_int8}
    for i, scheme in enumerate(SCHEMES):  # OpenVINO INT8 by each scheme picodet quantize chooses from
        label = "openvino/int8" + (f" ({scheme.name})" if i else "")
        xml = folder / f"openvino_int8_{i}" / "model.xml"
        layers[label.replace("/int8", "")] = quantize_openvino_int8(fp32, calib, xml, schemes=(scheme,))
        files[label] = (xml, "openvino")
    return files, layers


def ratios(ms: dict[str, float]) -> dict:
    """Best INT8 / best FP32 of any runtime, and INT8 / FP32 within each runtime."""
    best_fp32 = min(v for k, v in ms.items() if k.endswith("fp32"))
    best_int8 = min(v for k, v in ms.items() if "/int8" in k)
    own = {k.replace("/int8", ""): round(v / ms[k.split("/")[0] + "/fp32"], 3) for k, v in ms.items() if "/int8" in k}
    return {"best_int8_vs_best_fp32": round(best_int8 / best_fp32, 3), "int8_vs_fp32_same_runtime": own}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quant_speed.json"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench-quant-speed"))
    parser.add_argument("--models", default="s-416,l-640,demo")
    parser.add_argument("--demo-weights", type=Path, help="trained demo weights (default: random init)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs (ranges on a loaded machine)")
    parser.add_argument("--runs", type=int, default=30, help="timed forward passes per model and run")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from picodet_cli.slim.report import interleaved_ms, open_timed

    start = time.perf_counter()
    results: dict = {"cpu": cpu(), "versions": versions(), "threads": args.threads, "batch": 1, "models": {}}
    for key in args.models.split(","):
        files, layers = build(key, args.work, args.demo_weights)
        runners = {label: open_timed(path, rt, args.threads) for label, (path, rt) in files.items()}
        runs = [interleaved_ms(runners, MODELS[key][1], args.runs) for _ in range(args.repeats)]
        per_run = [ratios(ms) for ms in runs]
        best = [r["best_int8_vs_best_fp32"] for r in per_run]
        results["models"][key] = {
            "ms": [{k: round(v, 2) for k, v in ms.items()} for ms in runs],
            "ratios": per_run,
            "best_int8_vs_best_fp32_range": [min(best), max(best)],
            "target": TARGETS.get(key),
            "meets_target": None if key not in TARGETS else max(best) <= TARGETS[key],
            "integer_convs": {rt: {k: v[k] for k in ("integer_convs", "float_convs")} for rt, v in layers.items()},
        }
        own = per_run[-1]["int8_vs_fp32_same_runtime"]
        print(f"{key}: best INT8 / best FP32 {min(best):.2f}-{max(best):.2f}; INT8 / FP32 per runtime {own}")
    results["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
