"""FP32 ONNX -> OpenVINO INT8 IR with NNCF, and the measured per-layer sensitivity that decides what stays FP32.

NNCF quantizes the FP32 OpenVINO model (read from the opset-14 ONNX, hard-swish one op) with FakeQuantize nodes
that OpenVINO's CPU plugin folds into its integer convolutions (VNNI / AMX-INT8 where the CPU has them), with
bias correction. With validation data, `nncf.quantize_with_accuracy_control` measures each quantized layer's
effect on the model's mAP, ranks them, and reverts the most harmful ones to FP32 until the drop is within
`max_drop`: that measured ranking decides the layers kept float, for OpenVINO and (by name) for onnxruntime.
Without validation data every layer NNCF can quantize is quantized.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..runtimes.signal_stack import restored_signal_stack

CONV_TYPES = ("Convolution", "GroupConvolution")
# metric(run, positions): mAP of a model (`run({"image": x}) -> outputs`) on those positions of the validation set
Metric = Callable[[Callable[[dict[str, np.ndarray]], list[np.ndarray]], list[int]], float]


def quantize_openvino_int8(
    fp32_onnx: Path,
    calib: np.ndarray,
    out_xml: Path,
    metric: Metric | None = None,
    val_size: int = 0,
    max_drop: float = 0.01,
    max_reverts: int = 20,
) -> dict[str, Any]:
    """Quantize `fp32_onnx` with NNCF into `out_xml` (+ .bin).

    Returns {"integer_convs", "float_convs" (counted in the compiled graph), "kept_float" (convs without an INT8
    input: NNCF's rules plus the reverted ones), "reverted" (ops whose INT8 input accuracy control removed, by ONNX
    node name), "accuracy_control"}.
    `metric` and `val_size` (validation images) turn on accuracy control (absolute mAP drop <= `max_drop`, at most
    `max_reverts` quantizer groups reverted: each costs one validation run).
    """
    import nncf
    import openvino as ov

    model = fp32_model(fp32_onnx)
    calibration = nncf.Dataset([np.ascontiguousarray(calib[i : i + 1], np.float32) for i in range(len(calib))])
    common = {"subset_size": len(calib), "preset": nncf.QuantizationPreset.PERFORMANCE}
    with _quiet_nncf():
        quantized = nncf.quantize(model, calibration, **common)
        default_inputs = quantized_inputs(quantized)
        if metric is not None and val_size:

            def validate(compiled: Any, positions: Any) -> tuple[float, None]:
                return metric(_runner(compiled), list(positions)), None

            from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

            restorer = AdvancedAccuracyRestorerParameters(max_num_iterations=max_reverts)
            quantized = nncf.quantize_with_accuracy_control(
                model, calibration, nncf.Dataset(list(range(val_size))), validate, max_drop=max_drop,
                advanced_accuracy_restorer_parameters=restorer, **common,
            )  # fmt: skip
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml))
    kept = {name for name, quantized in conv_precisions(quantized).items() if not quantized}
    return {
        **integer_convs(out_xml),
        "kept_float": sorted(kept),
        "reverted": sorted(default_inputs - quantized_inputs(quantized)),
        "accuracy_control": {"max_drop": max_drop, "val_images": val_size} if metric is not None and val_size else None,
    }


def fp32_model(fp32_onnx: Path) -> Any:
    """The FP32 OpenVINO model NNCF quantizes: `ov.convert_model`, which folds constant sub-graphs.

    `Core.read_model` keeps the ONNX depthwise weights as Constant -> Reshape -> GroupConvolution; NNCF then gives
    the weights one scale per (channel, kernel column), shape [C,1,1,1,k], which the CPU plugin cannot fold into an
    integer kernel, so every depthwise conv ran FP32 (measured: 35 of 133 convs of PicoDet-S). Folded, the weight
    scales are per channel and every conv runs as an integer kernel. INT8 depthwise convs cost accuracy (measured
    on the demo model: 6.3 mAP points with all 133 convs INT8, none with the depthwise ones ignored), which is what
    accuracy control measures and reverts when validation data is given.
    """
    import openvino as ov

    return ov.convert_model(str(fp32_onnx))


def _runner(compiled: Any) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = compiled(inputs)
        return [np.asarray(result[o]) for o in compiled.outputs]

    return run


@contextlib.contextmanager
def _quiet_nncf() -> Iterator[None]:
    """NNCF logs at INFO and draws progress bars on stdout; the library reports through callbacks only."""
    import nncf

    level = nncf.nncf_logger.level
    nncf.set_log_level(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), restored_signal_stack():
            yield
    finally:
        nncf.set_log_level(level)


def quantized_inputs(model: Any) -> set[str]:
    """ONNX names of the ops that take an INT8 (FakeQuantize) activation input in the OpenVINO model."""
    names = set()
    for op in model.get_ops():
        if op.get_type_name() == "FakeQuantize" and op.input_value(0).get_node().get_type_name() != "Constant":
            for target in op.output(0).get_target_inputs():
                names.add(target.get_node().get_friendly_name().split("/")[0])
    return names


def conv_precisions(model: Any) -> dict[str, bool]:
    """ONNX conv name -> whether its input activation is quantized (a FakeQuantize feeds it) in the OpenVINO model."""
    found = {}
    for op in model.get_ops():
        if op.get_type_name() in CONV_TYPES:
            source = op.input_value(0).get_node()
            found[op.get_friendly_name().split("/")[0]] = source.get_type_name() == "FakeQuantize"
    return found


def integer_convs(xml: Path) -> dict[str, int]:
    """Integer and FP32 convolutions in the CPU plugin's compiled graph of `xml` (counted, not assumed)."""
    import openvino as ov

    with restored_signal_stack():
        config = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}
        compiled = ov.Core().compile_model(str(xml), "CPU", config)
    counts = {"integer_convs": 0, "float_convs": 0}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "Convolution" in info["layerType"].astype(str):
            integer = info["runtimePrecision"].astype(str) in ("i8", "u8")
            counts["integer_convs" if integer else "float_convs"] += 1
    return counts
