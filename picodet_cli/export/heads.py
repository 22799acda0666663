"""Export wrappers around PicoDet: `none` (deploy layout), `decode` (boxes + scores) and `nms` (bbox + bbox_num).

The layers live in `head_layers` (imported on use: it imports paddle). Decoding is written with softmax +
matmul (no ReduceSum: pnnx turns it into a no-op ncnn Reduction).
"""

from __future__ import annotations

from typing import Any

NMS_OPTIONS = {"score_threshold": 0.025, "nms_top_k": 1000, "keep_top_k": 100, "nms_threshold": 0.6}


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


def build_export_layer(model: Any, postprocess: str) -> Any:
    """The layer to export for `postprocess` (the PicoDet itself for `none`), in eval mode."""
    layer = model
    if postprocess != "none":
        from .head_layers import DecodeHead, NmsHead

        layer = (NmsHead if postprocess == "nms" else DecodeHead)(model)
    layer.eval()
    return layer
