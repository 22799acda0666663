"""FP32 ONNX -> INT8 QDQ ONNX in the form onnxruntime runs as integer kernels, and the count that proves it.

onnxruntime fuses DQ(activation) + DQ(weight) -> Conv -> Q into QLinearConv only when the conv's output has a Q,
and on x86 only for UINT8 activations (INT8 weights per channel). A conv without its output Q runs as DQ + FP32
Conv: slower than FP32 (measured 2.3-3.3x FP32 for PicoDet-S 416 with every regular conv in that form). So every
quantized conv gets its output Q, and the element-wise ops between convs (hard-swish as HardSigmoid * x,
squeeze-excitation gates, concat, pooling) are quantized too, where onnxruntime has QLinear kernels for them: a Q/DQ
pair around each FP32 op costs more than the op. Convs named in `exclude` stay FP32 (the layers the measured
sensitivity analysis keeps float, see `nncf_int8`). `integer_convs` counts what onnxruntime actually runs.

Accuracy (demo model, mAP 0.789 FP32, calibrated on 32 of the 60 scored images): min/max or percentile over all
calibration images lose 6.4 points; the mean over images of each image's min/max ("MeanMinMax") 2.4; then bias
correction (`correct_biases`) 1.1 (measured with the earlier one-session-per-level correction). Calibrated on 32
training images instead (what `quantize` does): 2.8 on the 60 scored images (2.6 with the earlier correction, 3.2
uncorrected); on 200 other training images 3.1 (earlier correction 3.7, uncorrected 4.2).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# picodet's calibration algorithms -> onnxruntime's: kl is entropy; the rest the mean of per-image min/max
# (onnxruntime's percentile and min/max over all images clip nothing of the rare outliers: 4x worse on the demo)
ORT_METHODS = {"kl": "Entropy"}
MEAN_MIN_MAX = "MeanMinMax"
INTEGER_CONV_OPS = ("QLinearConv", "ConvInteger", "NhwcQLinearConv")
FLOAT_CONV_OPS = ("Conv", "FusedConv", "NchwcConv")


def ort_method(algo: str) -> str:
    """The onnxruntime calibration method used for a picodet `algo`."""
    return ORT_METHODS.get(algo, MEAN_MIN_MAX)


def quantize_onnx_int8(
    fp32: Path,
    calib: np.ndarray,
    out: Path,
    meta: dict[str, Any],
    method: str = MEAN_MIN_MAX,
    percentile: float = 99.999,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Quantize `fp32` into `out` with calibration images `calib` [N,3,S,S], keeping the convs `exclude` FP32.

    Returns {"method", "integer_convs", "float_convs", "kept_float", "bias_corrected"}: the calibration method
    used (histogram methods fail on tensors with a degenerate range, e.g. untrained layers, and then MeanMinMax is
    used), the conv counts of onnxruntime's optimized graph and how many conv biases were corrected.
    """
    import onnx

    from ..export.metadata import embed_onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        corrected = _quantize(fp32, out, calib, method, percentile, exclude)
    except ValueError:
        if method in ("MinMax", MEAN_MIN_MAX):
            raise
        method = MEAN_MIN_MAX
        corrected = _quantize(fp32, out, calib, method, percentile, exclude)
    model = onnx.load(str(out))
    embed_onnx(model, meta)
    onnx.save(model, str(out))
    return {"method": method, **integer_convs(out), "kept_float": sorted(exclude), "bias_corrected": corrected}


def _quantize(fp32: Path, out: Path, calib: np.ndarray, method: str, percentile: float, exclude: tuple) -> int:
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

    import onnx

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # quantize_static logs every bias copy at INFO
    try:
        with tempfile.NamedTemporaryFile(prefix="picodet-ort-quant-", suffix=".onnx") as prepared:
            quant_pre_process(str(fp32), prepared.name, skip_symbolic_shape=True)
            quantize_static(
                prepared.name, str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, "MinMax" if method == MEAN_MIN_MAX else method),
                nodes_to_exclude=list(exclude),
                extra_options={"CalibPercentile": percentile, "CalibMovingAverage": method == MEAN_MIN_MAX},
            )  # fmt: skip
            model = onnx.load(str(out))
            corrected = correct_biases(model, onnx.load(prepared.name), calib)
            onnx.save(model, str(out))
    finally:
        root.setLevel(level)
    return corrected


def correct_biases(qdq: Any, fp32: Any, calib: np.ndarray) -> int:
    """Shift the int32 bias of every quantized conv of `qdq` (in place) so that its per-channel mean output on
    `calib` equals the FP32 model's, conv by conv in depth order (each measured with the ones before corrected).

    `fp32` is the model `qdq` was quantized from (same tensor names). Returns the number of convs corrected.
    The QDQ graph is evaluated once, level by level (`_levels`): a conv's input depends only on convs of lower
    levels, already corrected, so each level's convs run on stored inputs, are corrected, and their outputs
    shifted by the correction feed the next levels (one forward pass, not one per level).
    """
    from onnx import numpy_helper

    init = {i.name: i for i in qdq.graph.initializer}
    producer = {o: n for n in qdq.graph.node for o in n.output}
    fp32_producer = {o: n for n in fp32.graph.node for o in n.output}
    convs: dict[str, tuple[str, str, np.ndarray]] = {}  # output -> (FP32 reference tensor, bias, bias scale)
    for node in qdq.graph.node:
        bias_dq = producer.get(node.input[2]) if node.op_type == "Conv" and len(node.input) > 2 else None
        if bias_dq is None or bias_dq.op_type != "DequantizeLinear":
            continue
        ref = node.output[0]
        if ref in fp32_producer and fp32_producer[ref].op_type in ("Relu", "Clip"):  # folded into the output Q
            ref = fp32_producer[ref].input[0]
        if ref in fp32_producer and fp32_producer[ref].op_type == "Conv":
            scale = numpy_helper.to_array(init[bias_dq.input[1]]).astype(np.float64)
            convs[node.output[0]] = (ref, bias_dq.input[0], scale)
    if not convs:
        return 0
    target = dict(zip(convs, _channel_means(fp32, [ref for ref, _, _ in convs.values()], calib), strict=True))
    info = np.iinfo(np.int32)
    values: dict[str, list[np.ndarray]] = {qdq.graph.input[0].name: [calib[i : i + 1] for i in range(len(calib))]}
    for nodes, keep in _levels(qdq.graph):
        _run_stage(qdq, nodes, values)
        for name in (n.output[0] for n in nodes if n.output[0] in convs):
            _, bias, scale = convs[name]
            mean = sum(out.mean(axis=(0, 2, 3), dtype=np.float64) for out in values[name]) / len(calib)
            old = numpy_helper.to_array(init[bias]).astype(np.int64)
            new = np.clip(old + np.round((target[name] - mean) / scale), info.min, info.max).astype(np.int32)
            init[bias].CopyFrom(numpy_helper.from_array(new, bias))
            shift = ((new - old) * scale).astype(np.float32)[None, :, None, None]
            values[name] = [out + shift for out in values[name]]  # the output with the corrected bias
        for name in set(values) - keep:
            del values[name]
    return len(convs)


def _levels(graph: Any) -> list[tuple[list[Any], set[str]]]:
    """The nodes of `graph` in evaluation stages: per conv level (`_conv_depths`), its convs, then the other nodes of
    that level. Each stage with the tensors still needed after it. Nodes computed from initializers alone (weight
    and bias DequantizeLinear) are left out: each stage recomputes the ones it reads (a bias may change)."""
    constant = {i.name for i in graph.initializer}
    for node in graph.node:
        if all(name in constant for name in node.input if name):
            constant.update(node.output)
    depth = _conv_depths(graph)
    stages: dict[tuple[int, bool], list[Any]] = {}
    for node in graph.node:
        if node.output[0] not in constant:
            stages.setdefault((depth[node.output[0]], node.op_type != "Conv"), []).append(node)
    ordered = [stages[key] for key in sorted(stages)]
    last_use: dict[str, int] = {}
    for number, nodes in enumerate(ordered):
        last_use |= {name: number for n in nodes for name in n.input if name and name not in constant}
    return [(nodes, {name for name, last in last_use.items() if last > number}) for number, nodes in enumerate(ordered)]


def _run_stage(model: Any, nodes: list[Any], values: dict[str, list[np.ndarray]]) -> None:
    """Run `nodes` of `model` (with the constant nodes they read) on the stored tensors `values`, one image at a
    time; their outputs are added to `values`."""
    import onnx

    produced = {name for n in nodes for name in n.output}
    feeds = sorted({name for n in nodes for name in n.input if name in values and name not in produced})
    probe = _subgraph(model, [name for n in nodes for name in n.output if name], stop=set(feeds))
    graph = probe.graph
    del graph.input[:]
    graph.input.extend(
        onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(values[name][0].dtype), None)
        for name in feeds
    )
    session = _quiet_session(probe)
    names = [o.name for o in graph.output]
    results = [session.run(None, {name: values[name][i] for name in feeds}) for i in range(len(values[feeds[0]]))]
    for position, name in enumerate(names):
        values[name] = [outputs[position] for outputs in results]


def _channel_means(model: Any, tensors: list[str], calib: np.ndarray) -> list[np.ndarray]:
    """Per-channel means of the NCHW `tensors` of `model` over `calib` (one image per run)."""
    session = _quiet_session(_subgraph(model, tensors))
    sums: list[Any] = [0.0] * len(tensors)
    for i in range(len(calib)):
        outputs = session.run(None, {"image": np.ascontiguousarray(calib[i : i + 1], np.float32)})
        sums = [total + out.mean(axis=(0, 2, 3), dtype=np.float64) for total, out in zip(sums, outputs, strict=True)]
    return [total / len(calib) for total in sums]


def _quiet_session(model: Any) -> Any:
    """An onnxruntime CPU session of the in-memory `model`, logging errors only."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _subgraph(model: Any, outputs: list[str], stop: set[str] = frozenset()) -> Any:
    """A copy of `model` whose outputs are `outputs`, with only the nodes and initializers they depend on, up to
    the tensors `stop` (onnxruntime runs every node of a graph, whatever is fetched)."""
    import onnx

    producer = {o: n for n in model.graph.node for o in n.output}
    needed: set[int] = set()
    stack = [name for name in outputs if name not in stop]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack.extend(name for name in node.input if name and name not in stop)
    nodes = [n for n in model.graph.node if id(n) in needed]
    used = {name for n in nodes for name in n.input}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph = probe.graph
    del graph.node[:], graph.initializer[:], graph.value_info[:], graph.output[:]
    graph.node.extend(nodes)
    graph.initializer.extend(i for i in model.graph.initializer if i.name in used)
    graph.output.extend(onnx.helper.make_value_info(name, onnx.TypeProto()) for name in outputs)
    return probe


def _conv_depths(graph: Any) -> dict[str, int]:
    """Tensor name -> the number of convs on the longest path from the graph inputs up to its producer."""
    producer = {o: n for n in graph.node for o in n.output}
    depth: dict[str, int] = {}
    for node in graph.node:  # ONNX graphs are topologically sorted
        before = max((depth.get(name, 0) for name in node.input if name in producer), default=0)
        for name in node.output:
            depth[name] = before + (node.op_type == "Conv")
    return depth


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
