"""Export wrappers around PicoDet: `none` (deploy layout), `decode` (boxes + scores) and `nms` (bbox + bbox_num).

Decoding is written with softmax + matmul (no ReduceSum: pnnx turns it into a no-op ncnn Reduction).
"""

from __future__ import annotations

import functools
import math
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
        decode_head, nms_head = _layers()
        layer = (nms_head if postprocess == "nms" else decode_head)(model)
    layer.eval()
    return layer


@functools.cache
def _layers() -> tuple[type, type]:
    """Define the Paddle layers on first use, so importing this module does not import paddle."""
    import numpy as np
    import paddle
    import paddle.nn.functional as F
    from paddle import nn

    from ..models.postprocess import anchor_centers

    class DecodeHead(nn.Layer):
        """PicoDet + in-graph decoding: boxes [1, A, 4] in input pixels (no clipping), scores [1, C, A]."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model
            size = model.input_size
            shapes = [(math.ceil(size / s), math.ceil(size / s)) for s in model.strides]
            points, strides = anchor_centers(shapes, model.strides)
            self.bins = model.reg_max + 1
            self.register_buffer("points", paddle.to_tensor(points[None]))
            self.register_buffer("anchor_strides", paddle.to_tensor(strides[None, :, None]))
            self.register_buffer("project", paddle.to_tensor(np.arange(self.bins, dtype=np.float32)[:, None]))

        def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
            return self.decode(image)

        def decode(self, image: paddle.Tensor) -> list[paddle.Tensor]:
            outputs = self.model(image)
            levels = len(outputs) // 2
            scores = paddle.concat(outputs[:levels], axis=1)
            logits = paddle.concat(outputs[levels:], axis=1)
            prob = F.softmax(paddle.reshape(logits, [0, -1, 4, self.bins]), axis=-1)
            dist = paddle.reshape(paddle.matmul(prob, self.project), [0, -1, 4]) * self.anchor_strides
            boxes = paddle.concat([self.points - dist[:, :, :2], self.points + dist[:, :, 2:]], axis=-1)
            return [boxes, paddle.transpose(scores, [0, 2, 1])]

    class NmsHead(DecodeHead):
        """PicoDet + decoding + Paddle's multiclass_nms3: bbox [M, 6] in original pixels, bbox_num [1]."""

        def forward(self, image: paddle.Tensor, scale_factor: paddle.Tensor) -> list[paddle.Tensor]:
            boxes, scores = self.decode(image)
            sy, sx = scale_factor[:, 0:1], scale_factor[:, 1:2]
            scale = paddle.unsqueeze(paddle.concat([sx, sy, sx, sy], axis=-1), 1)
            o = NMS_OPTIONS
            bbox, _, num = paddle._C_ops.multiclass_nms3(
                boxes / scale, scores, None, o["score_threshold"], o["nms_top_k"], o["keep_top_k"],
                o["nms_threshold"], True, 1.0, -1,
            )  # fmt: skip
            return [bbox, num]

    return DecodeHead, NmsHead
