"""Run each INT8 artifact and compare it with the FP32 model it came from (same inputs as export verification).

INT8 cannot match FP32 to export tolerances, so the numbers are reported and only a clearly broken model fails:
outputs of the wrong shape or not finite, sigmoid scores off by more than `SCORE_LIMIT`, or fewer than
`AGREEMENT_LIMIT` of the top-100 boxes (scores on a 1e-3 grid, matched by IoU >= 0.9 and class) agreeing on
the judged image: a calibration image when given (the data the model was quantized for), else the photo. An
image unlike the calibration data (the photo, for a model trained on other images) saturates INT8 ranges, so
its numbers are reported, not judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CALIB_SAMPLE = "calib_sample.npy"  # the judged calibration image, kept in the quantize folder
SCORE_LIMIT = 0.5
AGREEMENT_LIMIT = 0.1
# artifact key -> runtime that runs it (OpenVINO also runs the QDQ ONNX directly)
RUNTIMES = {
    "paddle_int8": ("paddle",),
    "onnx_int8": ("onnxruntime", "openvino"),
    "openvino_int8": ("openvino",),
    "lite_int8_x86": ("lite",),
}


def verify_int8(
    fp32_model: Any,
    artifacts: dict[str, Path],
    meta: dict[str, Any],
    threads: int = 2,
    sample: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """{"<artifact>/<runtime>": {ok, failures, inputs: {random|image|sample: {max_score_error, agreement, ...}}}}.

    `sample` is one preprocessed calibration image [1,3,H,W]: when given, it is the judged image input.
    """
    from ..export.verify import reference_outputs, verification_inputs

    feeds = with_sample(verification_inputs(fp32_model.input_size, "none"), sample)
    reference = reference_outputs(fp32_model, feeds)
    judged = judged_input(feeds)
    checks = {}
    for key, path in artifacts.items():
        for runtime in RUNTIMES.get(key, ()):
            checks[f"{key}/{runtime}"] = check_artifact(path, runtime, meta, feeds, reference, threads, judged)
    return checks


def with_sample(feeds: dict[str, dict[str, np.ndarray]], sample: np.ndarray | None) -> dict:
    """`feeds` plus the calibration image `sample` ([1,3,H,W]) as the `sample` input, when there is one."""
    if sample is None:
        return feeds
    return feeds | {"sample": {"image": np.ascontiguousarray(sample[:1], np.float32)}}


def judged_input(feeds: dict[str, dict[str, np.ndarray]]) -> str:
    """The input whose box agreement decides: the calibration sample when present, else the photo."""
    return "sample" if "sample" in feeds else "image"


def check_artifact(
    path: Path,
    runtime_name: str,
    meta: dict[str, Any],
    feeds: dict[str, dict[str, np.ndarray]],
    reference: dict[str, list[np.ndarray]],
    threads: int,
    judged: str = "image",
) -> dict[str, Any]:
    """Run `path` with `runtime_name` on every feed; see the module docstring for what fails."""
    from ..export.verify import box_agreement, detections
    from ..runtimes.registry import runtime_class

    runtime = runtime_class(runtime_name)()
    runtime.require()
    runtime.load(path, threads=threads)
    grid_meta = meta | {"fp16": True}  # INT8 scores are compared on the coarse grid
    result: dict[str, Any] = {"path": str(path), "runtime": runtime_name, "inputs": {}, "failures": []}
    for key, feed in feeds.items():
        got, ref = [np.asarray(o, np.float32) for o in runtime.run(feed)], reference[key]
        failures = result["failures"]
        if len(got) != len(ref) or any(g.size != r.size for g, r in zip(got, ref, strict=False)):
            failures.append(f"{key} input: outputs {[list(g.shape) for g in got]} do not match FP32's")
            continue
        got = [g.reshape(r.shape) for g, r in zip(got, ref, strict=True)]
        if not all(np.isfinite(g).all() for g in got):
            failures.append(f"{key} input: outputs are not finite")
            continue
        levels = len(ref) // 2
        score_error = max(float(np.abs(g - r).max()) for g, r in zip(got[:levels], ref[:levels], strict=True))
        scale = np.ones((1, 2), np.float32)
        ref_rows, got_rows = detections(ref, grid_meta, scale), detections(got, grid_meta, scale)
        agreement = box_agreement(ref_rows, got_rows)
        result["inputs"][key] = {"max_score_error": score_error, "agreement": agreement, "boxes": len(ref_rows)}
        if key not in ("random", judged):
            continue  # reported only
        if score_error > SCORE_LIMIT:
            failures.append(f"{key} input: scores off by {score_error:.3f} > {SCORE_LIMIT}")
        if key == judged and agreement < AGREEMENT_LIMIT:
            failures.append(f"{key} input: only {agreement:.0%} of the boxes agree with FP32 (< {AGREEMENT_LIMIT:.0%})")
    result["ok"] = not result["failures"]
    return result
