"""Artifact metadata: what a runtime needs to pre- and post-process like the Paddle model.

ONNX files carry it in `metadata_props` (one JSON value per key); every other format has a `picodet.json`
beside its files. PicoDet ONNX files exported by PaddleDetection have none: `infer_metadata` rebuilds it
from either of upstream's layouts: the deploy layout without post-processing (v1, or v2's `_non_postprocess`:
strides and reg_max from the output shapes, input size from the input shape) or the one with post-processing
and NMS in the graph (`bbox` [K, 6] and `bbox_num` [N] fed with `image`, `scale_factor` and maybe `im_shape`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import PicodetError

SIDECAR = "picodet.json"
KEYS = (
    "model", "arch", "generation", "format", "input_size", "strides", "reg_max", "num_classes", "class_names",
    "mean", "std", "color_order", "postprocess", "fp16", "inputs", "outputs", "picodet_version",
)  # fmt: skip


def input_names(postprocess: str) -> list[str]:
    """Graph input names for a postprocess mode."""
    return ["image", "scale_factor"] if postprocess == "nms" else ["image"]


def output_names(postprocess: str, levels: int) -> list[str]:
    """Graph output names for a postprocess mode (per level scores then box logits for `none`)."""
    if postprocess == "decode":
        return ["boxes", "scores"]
    if postprocess == "nms":
        return ["bbox", "bbox_num"]
    return [f"scores_{i}" for i in range(levels)] + [f"boxes_{i}" for i in range(levels)]


def build_metadata(
    model: Any, model_name: str, class_names: Sequence[str], postprocess: str, fmt: str, fp16: bool
) -> dict[str, Any]:
    """Metadata for an artifact of the PicoDet layer `model` (input size is `model.input_size`, square)."""
    from .. import __version__
    from ..data.transforms import COLOR_ORDER, MEAN, STD

    return {
        "model": model_name,
        "arch": model.arch.name,
        "generation": model.arch.generation,
        "format": fmt,
        "input_size": [model.input_size, model.input_size],
        "strides": list(model.strides),
        "reg_max": model.reg_max,
        "num_classes": model.num_classes,
        "class_names": list(class_names),
        "mean": list(MEAN),
        "std": list(STD),
        "color_order": COLOR_ORDER,
        "postprocess": postprocess,
        "fp16": fp16,
        "inputs": input_names(postprocess),
        "outputs": output_names(postprocess, len(model.strides)),
        "picodet_version": __version__,
    }


def write_sidecar(folder: Path, meta: dict[str, Any]) -> Path:
    """Write `picodet.json` into `folder`."""
    from ..io import write_json_atomic

    path = folder / SIDECAR
    write_json_atomic(path, meta)
    return path


def embed_onnx(model: Any, meta: dict[str, Any]) -> None:
    """Store `meta` in an onnx.ModelProto's metadata_props (replacing earlier picodet keys)."""
    keep = [p for p in model.metadata_props if p.key not in KEYS]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key in KEYS:
        prop = model.metadata_props.add()
        prop.key, prop.value = key, json.dumps(meta.get(key))  # (metadata of older exports has no generation)


def read_onnx_metadata(props: dict[str, str]) -> dict[str, Any] | None:
    """Metadata from ONNX metadata_props as a {key: string} map; None when it is not a picodet export."""
    if "strides" not in props or "input_size" not in props:
        return None
    try:
        return {k: json.loads(v) for k, v in props.items() if k in KEYS}
    except json.JSONDecodeError as exc:
        raise PicodetError(f"corrupt picodet metadata in the ONNX file: {exc}", "export the model again") from None


def read_sidecar(folder: Path) -> dict[str, Any] | None:
    """`picodet.json` in `folder`, or None when there is none."""
    path = folder / SIDECAR
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PicodetError(f"cannot read {path}: {exc}", "export the model again") from None


def _base(height: int, width: int) -> dict[str, Any]:
    from .. import __version__
    from ..data.transforms import COLOR_ORDER, MEAN, STD

    return {
        "model": "paddledetection-export",
        "arch": None,
        "generation": None,  # v1 and v2 deploy layouts have the same shapes; upstream decodes both alike
        "format": "onnx",
        "input_size": [height, width],
        "class_names": None,
        "mean": list(MEAN),
        "std": list(STD),
        "color_order": COLOR_ORDER,
        "fp16": False,
        "picodet_version": __version__,
    }


def _is_nms_layout(output_shapes: Sequence[Sequence[int | str | None]]) -> bool:
    """Upstream's export with post-processing: `bbox` [K, 6] and `bbox_num` [N]."""
    ranks = sorted(len(s) for s in output_shapes)
    return ranks == [1, 2] and any(len(s) == 2 and s[1] == 6 for s in output_shapes)


def infer_metadata(
    input_shape: Sequence[int | str | None],
    output_shapes: Sequence[Sequence[int | str | None]],
    input_names: Sequence[str] = ("image",),
) -> dict[str, Any]:
    """Metadata of a PaddleDetection PicoDet ONNX (v1 or v2) in either layout upstream exports.

    Deploy layout (per level scores, then box logits; no NMS): strides are the powers of two whose grid
    ceil(H/s) x ceil(W/s) matches each level's anchor count. With post-processing (`bbox`, `bbox_num`): the
    graph decodes and runs NMS itself; classes are upstream's COCO 80 (the graph does not say).
    """
    from ..defaults import DEFAULT_NUM_CLASSES

    hint = (
        "only PicoDet deploy-layout models (scores then box logits per level) or upstream exports with "
        "post-processing (bbox, bbox_num) can be read without metadata"
    )
    if len(input_shape) != 4 or not all(isinstance(v, int) and v > 0 for v in input_shape[2:]):
        raise PicodetError(f"cannot tell the input size from input shape {list(input_shape)}", hint)
    height, width = int(input_shape[2]), int(input_shape[3])
    if _is_nms_layout(output_shapes):
        if "scale_factor" not in input_names:
            raise PicodetError(f"a bbox/bbox_num model without a scale_factor input (inputs {list(input_names)})", hint)
        return {
            **_base(height, width),
            "strides": [],
            "reg_max": 0,
            "num_classes": DEFAULT_NUM_CLASSES,
            "postprocess": "nms",
            "inputs": list(input_names),
            "outputs": ["bbox", "bbox_num"],
        }
    if len(output_shapes) < 2 or len(output_shapes) % 2:
        raise PicodetError(f"expected an even number of outputs, got {len(output_shapes)}", hint)
    levels = len(output_shapes) // 2
    scores, boxes = output_shapes[:levels], output_shapes[levels:]
    if any(len(s) != 3 or not isinstance(s[1], int) or not isinstance(s[2], int) for s in output_shapes):
        raise PicodetError(f"outputs must be static [1, anchors, channels], got {list(map(list, output_shapes))}", hint)
    num_classes, bins = int(scores[0][2]), int(boxes[0][2])
    if bins % 4:
        raise PicodetError(f"box outputs have {bins} channels, not 4 x (reg_max + 1)", hint)
    strides = []
    for level, shape in enumerate(scores):
        match = [2**k for k in range(2, 8) if math.ceil(height / 2**k) * math.ceil(width / 2**k) == shape[1]]
        if not match or boxes[level][1] != shape[1]:
            raise PicodetError(f"output level {level} ({shape[1]} anchors) fits no stride for {height}x{width}", hint)
        strides.append(match[0])
    return {
        **_base(height, width),
        "strides": strides,
        "reg_max": bins // 4 - 1,
        "num_classes": num_classes,
        "postprocess": "none",
        "inputs": None,
        "outputs": None,
    }
