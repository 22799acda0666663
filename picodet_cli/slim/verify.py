"""INT8 checks of a quantization run: each INT8 artifact through the one verifier (export/verify.py) at INT8 limits.

INT8 cannot match FP32 to export tolerances, so the numbers are reported and only a clearly broken model fails
(`formats.PRECISIONS["int8"]`): outputs of the wrong shape or not finite, sigmoid scores off by more than
`SCORE_LIMIT`, or fewer than `AGREEMENT_LIMIT` of the top-100 boxes agreeing on the judged image: a calibration
image when given (the data the model was quantized for), else the photo. An image unlike the calibration data
(the photo, for a model trained on other images) saturates INT8 ranges, so its numbers are reported, not judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..export.formats import PRECISIONS

CALIB_SAMPLE = "calib_sample.npy"  # the judged calibration image, kept in the quantize folder
SCORE_LIMIT = PRECISIONS["int8"].score_atol
AGREEMENT_LIMIT = PRECISIONS["int8"].box_agreement
# artifact key -> runtimes that run it (OpenVINO also runs the QDQ ONNX directly)
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
    checks = {}
    for key, path in artifacts.items():
        for runtime in RUNTIMES.get(key, ()):
            checks[f"{key}/{runtime}"] = check_artifact(path, runtime, meta, feeds, reference, threads)
    return checks


def with_sample(feeds: dict[str, dict[str, np.ndarray]], sample: np.ndarray | None) -> dict:
    """`feeds` plus the calibration image `sample` ([1,3,H,W]) as the `sample` input, when there is one."""
    if sample is None:
        return feeds
    return feeds | {"sample": {"image": np.ascontiguousarray(sample[:1], np.float32)}}


def judged_inputs(feeds: dict[str, dict[str, np.ndarray]]) -> tuple[str, ...]:
    """The inputs INT8 is judged on: the random tensor and the calibration sample when present, else the photo."""
    return ("random", "sample" if "sample" in feeds else "image")


def check_artifact(
    path: Path,
    runtime_name: str,
    meta: dict[str, Any],
    feeds: dict[str, dict[str, np.ndarray]],
    reference: dict[str, list[np.ndarray]],
    threads: int,
) -> dict[str, Any]:
    """Run `path` with `runtime_name` on every feed and judge it at INT8 limits (see the module docstring)."""
    from ..export.verify import verify_artifact
    from ..runtimes.registry import Artifact, locate_artifact

    artifact = Artifact(locate_artifact(path).format, runtime_name, Path(path))
    check = verify_artifact(artifact, meta, feeds, reference, "int8", threads=threads, judged=judged_inputs(feeds))
    return check.to_dict() | {"path": str(path), "runtime": runtime_name}
