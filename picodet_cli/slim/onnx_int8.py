"""FP32 ONNX -> INT8 QDQ ONNX in the form onnxruntime runs as integer kernels, and the count that proves it.

onnxruntime fuses DQ(activation) + DQ(weight) -> Conv -> Q into QLinearConv only when the conv's output has a Q,
and on x86 only for UINT8 activations (INT8 weights per channel). A conv without its output Q runs as DQ + FP32
Conv: slower than FP32 (measured 2.3-3.3x FP32 for PicoDet-S 416 with every regular conv in that form). So every
quantized conv gets its output Q, and the element-wise ops between convs (hard-swish as HardSigmoid * x,
squeeze-excitation gates, concat, pooling) are quantized too, where onnxruntime has QLinear kernels for them: a Q/DQ
pair around each FP32 op costs more than the op. Convs named in `exclude` stay FP32 (the layers the measured
sensitivity analysis keeps float, see `nncf_int8`). `integer_convs` counts what onnxruntime actually runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# picodet's calibration algorithms -> onnxruntime's (hist keeps a percentile, kl is entropy; the rest min/max)
ORT_METHODS = {"hist": "Percentile", "kl": "Entropy"}
INTEGER_CONV_OPS = ("QLinearConv", "ConvInteger", "NhwcQLinearConv")
FLOAT_CONV_OPS = ("Conv", "FusedConv", "NchwcConv")


def ort_method(algo: str) -> str:
    """The onnxruntime calibration method used for a picodet `algo`."""
    return ORT_METHODS.get(algo, "MinMax")


def quantize_onnx_int8(
    fp32: Path,
    calib: np.ndarray,
    out: Path,
    meta: dict[str, Any],
    method: str = "MinMax",
    percentile: float = 99.999,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Quantize `fp32` into `out` with calibration images `calib` [N,3,S,S], keeping the convs `exclude` FP32.

    Returns {"method", "integer_convs", "float_convs", "kept_float"}: the calibration method used (histogram
    methods fail on tensors with a degenerate range, e.g. untrained layers, and then MinMax is used) and the
    conv counts of onnxruntime's optimized graph.
    """
    import onnx

    from ..export.metadata import embed_onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        _quantize(fp32, out, calib, method, percentile, exclude)
    except ValueError:
        if method == "MinMax":
            raise
        method = "MinMax"
        _quantize(fp32, out, calib, method, percentile, exclude)
    model = onnx.load(str(out))
    embed_onnx(model, meta)
    onnx.save(model, str(out))
    return {"method": method, **integer_convs(out), "kept_float": sorted(exclude)}


def _quantize(fp32: Path, out: Path, calib: np.ndarray, method: str, percentile: float, exclude: tuple) -> None:
    import logging

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader:
        """One calibration image per call, as onnxruntime's CalibrationDataReader."""

        def __init__(self) -> None:
            self.items = iter(calib[i : i + 1] for i in range(len(calib)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {"image": np.ascontiguousarray(batch, np.float32)}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # quantize_static logs every bias copy at INFO
    try:
        with tempfile.NamedTemporaryFile(prefix="picodet-ort-quant-", suffix=".onnx") as prepared:
            quant_pre_process(str(fp32), prepared.name, skip_symbolic_shape=True)
            quantize_static(
                prepared.name, str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, method), nodes_to_exclude=list(exclude),
                extra_options={"CalibPercentile": percentile},
            )  # fmt: skip
    finally:
        root.setLevel(level)


def integer_convs(path: Path) -> dict[str, int]:
    """Integer and FP32 convolutions in onnxruntime's optimized graph of `path` (counted, not assumed)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="picodet-ort-opt-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    return {
        "integer_convs": sum(op in INTEGER_CONV_OPS for op in ops),
        "float_convs": sum(op in FLOAT_CONV_OPS for op in ops),
    }


def depthwise_convs(path: Path) -> list[str]:
    """Names of the Conv nodes of an ONNX graph with more than one group (depthwise)."""
    import onnx

    graph = onnx.load(str(path)).graph
    return [
        n.name for n in graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    ]


def conv_names(path: Path) -> list[str]:
    """Names of the Conv nodes of an ONNX graph (the layers that can be quantized), in graph order."""
    import onnx

    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
