"""Paddle inference model -> ONNX (paddle2onnx in a subprocess) -> fixed, renamed, simplified ONNX with metadata.

The `onnx` writer traces its own variant of the network: channels padded to the SIMD width (export/layout.py;
onnxruntime measured faster with it). ncnn / MNN / OpenVINO are converted from its file. A process keeps its last
conversion: the quantize stage's FP32 ONNX and the export stage's onnx format of `picodet run` are one conversion.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import MissingDependency, PicodetError
from .metadata import embed_onnx


def write(ctx: Any) -> list[Path]:
    """The `onnx` format, from a Paddle program of the padded variant written to scratch space."""
    from .deploy_graph import build_export_layer
    from .layout import pad_channels

    padded = pad_channels(ctx.model)
    layer = ctx.layer if padded is ctx.model else build_export_layer(padded, ctx.options.postprocess)
    with ctx.scratch() as src:
        options, out = ctx.options, ctx.folder / "model.onnx"
        return [onnx_of_layer(layer, ctx.input_size, options.postprocess, options.opset, ctx.meta("onnx"), out, src)]


# The last conversion of this process: (key, simplified ONNX without metadata). `picodet run` converts the same
# padded model twice (the quantize stage's FP32 ONNX, then the export stage's onnx format): the second is a copy.
_LAST_CONVERSION: list[tuple[str, bytes]] = []


def onnx_of_layer(
    layer: Any, input_size: int, postprocess: str, opset: int, meta: dict[str, Any], out_path: Path, scratch: Path
) -> Path:
    """`layer` traced into `scratch` and converted (`convert`) into `out_path`, `meta` embedded. When the last
    conversion of this process had the same content (`conversion_key`: weights, layer tree, size, postprocess,
    opset, output names), its graph is written again instead."""
    import onnx

    from .paddle_inference import export_paddle

    key = conversion_key(layer, input_size, postprocess, opset, meta["outputs"])
    if _LAST_CONVERSION and _LAST_CONVERSION[0][0] == key:
        model = onnx.load_from_string(_LAST_CONVERSION[0][1])
        embed_onnx(model, meta)
        onnx.save(model, str(out_path))
        return out_path
    export_paddle(layer, scratch, input_size, postprocess)
    model = convert(scratch, opset, meta["outputs"])
    _LAST_CONVERSION[:] = [(key, model.SerializeToString())]
    embed_onnx(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


def conversion_key(layer: Any, input_size: int, postprocess: str, opset: int, outputs: list[str]) -> str:
    """sha256 of what the ONNX graph of `layer` depends on: its state dict, its layer tree (classes and their
    settings, as Paddle prints it, and any function a layer holds, e.g. a swapped upsampling), the input size,
    postprocess, opset and output names. The code is the same within one process."""
    import hashlib

    from ..models.pretrained import state_digest

    functions = [
        f"{name}.{attr}={value.__module__}.{value.__qualname__}"
        for name, sub in layer.named_sublayers(include_self=True)
        for attr, value in sorted(vars(sub).items())
        if callable(value) and hasattr(value, "__qualname__") and not hasattr(value, "forward")
    ]
    text = repr((str(layer), functions, input_size, postprocess, opset, list(outputs)))
    return hashlib.sha256(f"{state_digest(layer)};{text}".encode()).hexdigest()


P2O_SCRIPT = """
import sys
import paddle2onnx
paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], opset_version=int(sys.argv[4]), auto_upgrade_opset=True,
                   enable_onnx_checker=True)
"""


def convert(paddle_dir: Path, opset: int, outputs: list[str]) -> Any:
    """The ONNX model (no metadata) of `paddle_dir/model.json`.

    paddle2onnx runs in a child process (its C++ errors abort the process); opset is raised automatically
    when the graph needs more. Then: LeakyRelu alphas fixed, outputs named `outputs`, onnxsim (onnxslim
    as fallback).
    """
    import onnx

    for module in ("paddle2onnx", "onnx"):
        _require(module)
    raw = paddle_dir / "model.raw.onnx"
    args = [sys.executable, "-c", P2O_SCRIPT, str(paddle_dir / "model.json"), str(paddle_dir / "model.pdiparams")]
    proc = subprocess.run([*args, str(raw), str(opset)], capture_output=True, text=True)
    if proc.returncode != 0 or not raw.is_file():
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "ERROR" in ln or "Error" in ln]
        detail = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise PicodetError(f"paddle2onnx failed: {detail}", "run with PICODET_DEBUG=1 or try another --opset")
    model = onnx.load(str(raw))
    raw.unlink()
    fix_leaky_relu(model, paddle_dir / "model.json")
    rename_outputs(model, outputs)
    return simplify(model)


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependency(module, "ONNX export", module)


def paddle_leaky_slopes(model_json: Path) -> list[float]:
    """negative_slope of every leaky_relu in a PIR model.json, in program order."""
    slopes: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("#") == "1.leaky_relu":
                slopes.extend(a["AT"]["D"] for a in node.get("A", []) if a.get("N") == "negative_slope")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(model_json.read_text()))
    return slopes


def fix_leaky_relu(model: Any, model_json: Path) -> int:
    """Rewrite LeakyRelu alphas with Paddle's values (paddle2onnx 2.1.0 reads the f64 attr as garbage)."""
    nodes = [n for n in model.graph.node if n.op_type == "LeakyRelu"]
    if not nodes:
        return 0
    slopes = paddle_leaky_slopes(model_json)
    if len(set(slopes)) == 1:
        slopes = slopes[:1] * len(nodes)
    if len(slopes) != len(nodes):
        raise PicodetError(
            f"cannot repair {len(nodes)} LeakyRelu nodes from {len(slopes)} Paddle leaky_relu ops",
            "write leaky ReLU as maximum(x, a*x) in the model",
        )
    for node, slope in zip(nodes, slopes, strict=True):
        del node.attribute[:]
        node.attribute.extend([_float_attr("alpha", slope)])
    return len(nodes)


def _float_attr(name: str, value: float) -> Any:
    from onnx import helper

    return helper.make_attribute(name, float(value))


def rename_outputs(model: Any, names: list[str]) -> None:
    """Give the graph outputs meaningful names (paddle2onnx writes fetch_name_N)."""
    outputs = list(model.graph.output)
    if len(outputs) != len(names):
        raise PicodetError(f"ONNX graph has {len(outputs)} outputs, expected {len(names)}", "report this as a bug")
    mapping = {o.name: n for o, n in zip(outputs, names, strict=True)}
    for node in model.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]
        node.input[:] = [mapping.get(i, i) for i in node.input]
    for output in outputs:
        output.name = mapping[output.name]


def simplify(model: Any) -> Any:
    """onnxsim, or onnxslim when onnxsim is missing or fails (MissingDependency when neither is installed)."""
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model)
        if ok:
            return simplified
    except Exception:  # any onnxsim failure falls back to onnxslim
        pass
    try:
        import onnxslim

        return onnxslim.slim(model)
    except ImportError:
        raise MissingDependency("onnxsim", "simplifying the ONNX export", "onnxsim") from None
