"""The quantization report: FP32 vs INT8 accuracy, model sizes, latency per runtime, layers quantized, checks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

REPORT = "quant_report.json"
# runtime -> (FP32 artifact key, INT8 artifact key) for the latency comparison on this CPU
LATENCY_PAIRS = {
    "onnxruntime": ("fp32_onnx", "onnx_int8"),
    "openvino": ("fp32_onnx", "onnx_int8"),
    "paddle": ("fp32_paddle", "paddle_int8"),
}
# INT8 runtimes whose mAP is measured on the validation data (Lite runs one subprocess per image: left out)
EVAL_RUNTIMES = {"onnxruntime": "onnx_int8", "paddle": "paddle_int8"}


def evaluate_fp32(model: Any, index: Any, batch_size: int = 8) -> dict[str, float]:
    """mAP / mAP50 of the FP32 Paddle model on `index`."""
    from ..engine.evaluate import evaluate_detector, paddle_detect_fn

    result, _ = evaluate_detector(paddle_detect_fn(model), index, model.input_size, batch_size)
    return {"map": result.map, "map50": result.map50}


def evaluate_artifact(path: Path, index: Any, threads: int = 2) -> dict[str, float]:
    """mAP / mAP50 of an exported artifact (RuntimeModel, batch 1) on `index`."""
    from ..engine.evaluate import evaluate_detector
    from ..runtimes.model import RuntimeModel

    model = RuntimeModel(path, threads=threads)
    result, _ = evaluate_detector(model.detect, index, int(model.input_size[0]), batch_size=1)
    return {"map": result.map, "map50": result.map50}


def latency_ms(path: Path, runtime_name: str, input_size: int, runs: int = 20, threads: int = 2) -> float:
    """Median wall time of one forward pass (batch 1) after 3 warm-up runs."""
    from ..runtimes.registry import runtime_class

    runtime = runtime_class(runtime_name)()
    runtime.load(path, threads=threads)
    feed = {"image": np.random.default_rng(0).standard_normal((1, 3, input_size, input_size)).astype(np.float32)}
    times = []
    for i in range(runs + 3):
        start = time.perf_counter()
        runtime.run(feed)
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def artifact_bytes(path: Path) -> int:
    """Size of an artifact's model file plus its weights file (.pdiparams, .bin)."""
    companion = {".json": ".pdiparams", ".pdmodel": ".pdiparams", ".xml": ".bin"}.get(path.suffix)
    files = [path, path.with_suffix(companion)] if companion else [path]
    return sum(p.stat().st_size for p in files if p.is_file())


def measure(
    model: Any, files: dict[str, Path], index: Any | None, threads: int, runs: int, progress: Any
) -> dict[str, Any]:
    """Accuracy (when `index` is given), sizes and latency of the FP32 and INT8 artifacts in `files`."""
    found: dict[str, Any] = {"sizes_bytes": {k: artifact_bytes(p) for k, p in files.items()}}
    if index is not None:
        progress(f"evaluating FP32 and INT8 on {len(index)} validation images")
        found["fp32"] = evaluate_fp32(model, index)
        found["int8"] = {
            rt: evaluate_artifact(files[key], index, threads) for rt, key in EVAL_RUNTIMES.items() if key in files
        }
        found["drop"] = {
            rt: {m: round(100 * (found["fp32"][m] - v[m]), 2) for m in ("map", "map50")}
            for rt, v in found["int8"].items()
        }
    progress("timing FP32 vs INT8 per runtime")
    latency: dict[str, Any] = {}
    for rt, (fp32_key, int8_key) in LATENCY_PAIRS.items():
        if int8_key not in files:
            continue
        fp32_ms = latency_ms(files[fp32_key], rt, model.input_size, runs, threads)
        int8_ms = latency_ms(files[int8_key], rt, model.input_size, runs, threads)
        latency[rt] = {"fp32_ms": fp32_ms, "int8_ms": int8_ms, "speedup": fp32_ms / int8_ms}
    if any(key.startswith("lite_int8") for key in files):
        latency["lite"] = {
            "note": "arm .nb needs an ARM device; the x86 .nb is verified, not timed (one process per run)"
        }
    found["latency"] = latency
    return found


def report_table(report: dict[str, Any]) -> Any:
    """A rich table of the report's main numbers."""
    from rich.table import Table

    from ..cli.console import human_size

    table = Table(
        title=f"{report['method'].upper()} {report['model']} ({report['input_size']} px)", title_justify="left"
    )
    for column in ("item", "FP32", "INT8", "note"):
        table.add_column(column)
    fp32 = report.get("fp32")
    for rt, values in report.get("int8", {}).items():
        drop = report["drop"][rt]
        for metric in ("map", "map50"):
            table.add_row(
                f"{'mAP' if metric == 'map' else 'mAP50'} ({rt})", f"{fp32[metric]:.4f}", f"{values[metric]:.4f}",
                f"drop {drop[metric]:+.2f} points",
            )  # fmt: skip
    sizes = report["sizes_bytes"]
    for fp32_key, int8_key in (("fp32_onnx", "onnx_int8"), ("fp32_paddle", "paddle_int8")):
        if int8_key in sizes:
            table.add_row(
                f"size ({int8_key.split('_')[0]})", human_size(sizes[fp32_key]), human_size(sizes[int8_key]), ""
            )
    for key in (k for k in sizes if k.startswith("lite_int8")):
        table.add_row(f"size ({key})", "", human_size(sizes[key]), "")
    for rt, values in report["latency"].items():
        if "fp32_ms" in values:
            table.add_row(
                f"latency ({rt})", f"{values['fp32_ms']:.2f} ms", f"{values['int8_ms']:.2f} ms",
                f"x{values['speedup']:.2f}",
            )  # fmt: skip
    layers = dict(report["quantized_layers"])
    total = layers.pop("total")
    quantized = ", ".join(f"{k} {v}" for k, v in layers.items())
    table.add_row("quantized layers", "", f"{quantized} (of {total})", "the others run in FP32")
    for key, why in report.get("failed", {}).items():
        table.add_row(key, "", "FAILED", why)
    for name, check in report["verification"].items():
        image = check["inputs"].get("image", {})
        detail = f"boxes agree {image['agreement']:.0%}, max score err {image['max_score_error']:.3f}" if image else ""
        table.add_row(f"check {name}", "", "ok" if check["ok"] else "FAILED", detail or "; ".join(check["failures"]))
    return table
