"""The quantization report: FP32 vs INT8 accuracy, model sizes, latency per runtime, layers quantized, checks."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPORT = "quant_report.json"
# runtime -> (FP32 artifact key, INT8 artifact key) for the latency comparison on this CPU (OpenVINO reads the
# FP32 ONNX directly)
LATENCY_PAIRS = {
    "onnxruntime": ("fp32_onnx", "onnx_int8"),
    "openvino": ("fp32_onnx", "openvino_int8"),
    "paddle": ("fp32_paddle", "paddle_int8"),
}
# INT8 runtimes whose mAP is measured on the validation data (Lite runs one subprocess per image: left out)
EVAL_RUNTIMES = {"onnxruntime": "onnx_int8", "openvino": "openvino_int8", "paddle": "paddle_int8"}
# CPU flags that give integer dot-product kernels (what makes INT8 convolutions faster than FP32 ones)
INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


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


def validation_metric(fp32_onnx: Path, index: Any, threads: int = 2) -> Callable[[Any, list[int]], float]:
    """metric(run, positions): mAP on those images of `index` of a model given as `run({"image": x}) -> outputs`
    (pre/post-processing from the FP32 ONNX's metadata); NNCF's accuracy control calls it."""
    from ..engine.evaluate import evaluate_detector
    from ..runtimes.model import RuntimeModel

    model = RuntimeModel(fp32_onnx, threads=threads)

    def metric(run: Any, positions: list[int]) -> float:
        model.runtime = SimpleNamespace(run=run)
        subset = dataclasses.replace(index, records=[index.records[i] for i in positions])
        result, _ = evaluate_detector(model.detect, subset, int(model.input_size[0]), batch_size=1)
        return float(result.map)

    return metric


def open_timed(path: Path, runtime_name: str, threads: int = 2) -> Callable[[dict[str, np.ndarray]], Any]:
    """A run function for timing; onnxruntime's thread spinning is off (its idle threads spin after a run and
    would take the CPU from whatever is timed next in the same process)."""
    if runtime_name == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda feed: session.run(None, feed)
    from ..runtimes.registry import runtime_class

    runtime = runtime_class(runtime_name)()
    runtime.load(path, threads=threads)
    return runtime.run


def interleaved_ms(
    runners: dict[str, Callable[[dict[str, np.ndarray]], Any]], input_size: int, runs: int = 20, rounds: int = 3
) -> dict[str, float]:
    """Median ms of one forward pass (batch 1) per runner, timed in `rounds` interleaved rounds after warm-up, so
    that a load change on a shared machine hits every runner alike."""
    feed = {"image": np.random.default_rng(0).standard_normal((1, 3, input_size, input_size)).astype(np.float32)}
    times: dict[str, list[float]] = {key: [] for key in runners}
    for run in runners.values():
        for _ in range(3):
            run(feed)
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for key, run in runners.items():
            for _ in range(per_round):
                start = time.perf_counter()
                run(feed)
                times[key].append((time.perf_counter() - start) * 1000)
    return {key: float(np.median(values)) for key, values in times.items()}


def cpu_int8_features() -> dict[str, Any]:
    """The CPU model and which integer dot-product features it has (read from /proc/cpuinfo)."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(errors="replace") if cpuinfo.is_file() else ""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"model": model, "int8_features": [f for f in INT8_FEATURES if f in flags]}


def artifact_bytes(path: Path) -> int:
    """Size of an artifact's model file plus its weights file (.pdiparams, .bin)."""
    companion = {".json": ".pdiparams", ".pdmodel": ".pdiparams", ".xml": ".bin"}.get(path.suffix)
    files = [path, path.with_suffix(companion)] if companion else [path]
    return sum(p.stat().st_size for p in files if p.is_file())


def measure(
    model: Any, files: dict[str, Path], index: Any | None, threads: int, runs: int, progress: Any
) -> dict[str, Any]:
    """Accuracy (when `index` is given), sizes and latency of the FP32 and INT8 artifacts in `files`, and per
    runtime which precision to use on this CPU (`recommend`)."""
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
    progress("timing FP32 vs INT8 per runtime (interleaved)")
    latency: dict[str, Any] = {}
    for rt, (fp32_key, int8_key) in LATENCY_PAIRS.items():
        if int8_key not in files:
            continue
        runners = {"fp32": open_timed(files[fp32_key], rt, threads), "int8": open_timed(files[int8_key], rt, threads)}
        ms = interleaved_ms(runners, model.input_size, runs)
        latency[rt] = {"fp32_ms": ms["fp32"], "int8_ms": ms["int8"], "speedup": ms["fp32"] / ms["int8"]}
    if any(key.startswith("lite_int8") for key in files):
        latency["lite"] = {
            "note": "arm .nb needs an ARM device; the x86 .nb is verified, not timed (one process per run)"
        }
    found["latency"] = latency
    found["cpu"] = cpu_int8_features()
    found["recommend"] = recommend(latency, found["cpu"])
    return found


def recommend(latency: dict[str, Any], cpu: dict[str, Any]) -> dict[str, str]:
    """Per runtime: "int8", or one line saying why FP32 is the better artifact on this CPU."""
    features = ", ".join(cpu["int8_features"]) or "no VNNI/AMX"
    verdicts = {}
    for rt, values in latency.items():
        if "fp32_ms" not in values:
            continue
        if values["int8_ms"] < values["fp32_ms"]:
            verdicts[rt] = "int8"
        else:
            verdicts[rt] = (
                f"fp32: INT8 is {values['int8_ms'] / values['fp32_ms']:.2f}x FP32's time in {rt} on this CPU "
                f"({features}); use the FP32 artifact"
            )
    return verdicts
