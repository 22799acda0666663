"""FP32 ONNX -> OpenVINO INT8 IR with NNCF; what stays FP32 is decided by measuring the validation mAP.

NNCF quantizes the FP32 OpenVINO model (read from the opset-14 ONNX, hard-swish one op) with FakeQuantize nodes
that OpenVINO's CPU plugin folds into its integer convolutions (VNNI / AMX-INT8 where the CPU has them), with
bias correction. With validation data, the quantization schemes of `SCHEMES` are tried fastest first and the first
whose mAP drop is within `max_drop` is kept (each costs one quantization and one validation run); when none is,
`nncf.quantize_with_accuracy_control` measures each quantized layer's effect on the mAP, ranks the layers and reverts
the most harmful ones to FP32 until the drop is within `max_drop` (slower: one validation run per layer). Without
validation data the fastest scheme is used.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..runtimes.signal_stack import restored_signal_stack

CONV_TYPES = ("Convolution", "GroupConvolution")
# metric(run, positions): mAP of a model (`run({"image": x}) -> outputs`) on those positions of the validation set
Metric = Callable[[Callable[[dict[str, np.ndarray]], list[np.ndarray]], list[int]], float]


@dataclass(frozen=True)
class Scheme:
    """One way to quantize: NNCF's preset (symmetric or asymmetric activations) and the op types kept FP32."""

    name: str
    preset: str  # an nncf.QuantizationPreset member
    float_types: tuple[str, ...] = ()


# Fastest first. Latency / OpenVINO FP32, 2 threads, random weights, Sapphire Rapids (AMX-INT8):
# S-416 0.63 / 0.70 / 0.80, L-640 0.45 / 0.51 / 0.59. Demo model's mAP drop: 6.3 / 1.1-2.0 / none (INT8 depthwise
# convs are what costs accuracy; asymmetric activations recover most of it). benchmarks/quant_speed.py.
SCHEMES = (
    Scheme("every conv INT8", "PERFORMANCE"),
    Scheme("every conv INT8, asymmetric activations", "MIXED"),
    Scheme("depthwise convs FP32", "PERFORMANCE", ("GroupConvolution",)),
)


def quantize_openvino_int8(
    fp32_onnx: Path,
    calib: np.ndarray,
    out_xml: Path,
    metric: Metric | None = None,
    val_size: int = 0,
    max_drop: float = 0.01,
    max_reverts: int = 20,
    schemes: tuple[Scheme, ...] = SCHEMES,
) -> dict[str, Any]:
    """Quantize `fp32_onnx` with NNCF into `out_xml` (+ .bin), by the first of `schemes` within the drop.

    Returns {"integer_convs", "float_convs" (counted in the compiled graph), "kept_float" (convs without an INT8
    input), "scheme" (the scheme kept), "schemes" (each one tried: name, mAP, drop), "reverted" (ops whose INT8
    input accuracy control removed, by ONNX node name), "accuracy_control"}.
    `metric` and `val_size` (validation images) turn on the measured choice (absolute mAP drop <= `max_drop`;
    accuracy control reverts at most `max_reverts` quantizer groups, each costing one validation run).
    """
    import nncf
    import openvino as ov

    model = fp32_model(fp32_onnx)
    calibration = nncf.Dataset([np.ascontiguousarray(calib[i : i + 1], np.float32) for i in range(len(calib))])
    measured = metric is not None and val_size > 0
    tried: list[dict[str, Any]] = []
    reverted: list[str] = []
    with _quiet_nncf():
        baseline = _score(model, metric, val_size) if measured else None
        for scheme in schemes if measured else schemes[:1]:
            quantized = nncf.quantize(model, calibration, **_options(scheme, len(calib)))
            if not measured:
                break
            score = _score(quantized, metric, val_size)
            tried.append({"scheme": scheme.name, "map": score, "drop": baseline - score})
            if baseline - score <= max_drop:
                break
        else:
            default_inputs = quantized_inputs(quantized)

            def validate(compiled: Any, positions: Any) -> tuple[float, None]:
                return metric(_runner(compiled), list(positions)), None

            from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

            restorer = AdvancedAccuracyRestorerParameters(max_num_iterations=max_reverts)
            quantized = nncf.quantize_with_accuracy_control(
                model, calibration, nncf.Dataset(list(range(val_size))), validate, max_drop=max_drop,
                advanced_accuracy_restorer_parameters=restorer, **_options(scheme, len(calib)),
            )  # fmt: skip
            reverted = sorted(default_inputs - quantized_inputs(quantized))
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml))
    kept = {name for name, quantized in conv_precisions(quantized).items() if not quantized}
    return {
        **integer_convs(out_xml),
        "kept_float": sorted(kept),
        "scheme": scheme.name,
        "schemes": tried,
        "fp32_map": baseline,
        "reverted": reverted,
        "accuracy_control": {"max_drop": max_drop, "val_images": val_size} if measured else None,
    }


def _options(scheme: Scheme, subset_size: int) -> dict[str, Any]:
    import nncf

    options: dict[str, Any] = {"subset_size": subset_size, "preset": getattr(nncf.QuantizationPreset, scheme.preset)}
    if scheme.float_types:
        options["ignored_scope"] = nncf.IgnoredScope(types=list(scheme.float_types))
    return options


def _score(model: Any, metric: Metric, val_size: int) -> float:
    """`metric` of an OpenVINO model (FP32 inference precision) on the first `val_size` validation images."""
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": 0, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(model, "CPU", config)
    return float(metric(_runner(compiled), list(range(val_size))))


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
