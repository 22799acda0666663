"""The deploy graph of each postprocess mode: `none` (the detector's deploy layout), `decode`, `nms`.

Generation-agnostic: the wrappers consume `model(image)` (per level sigmoid scores [1, A_l, C], then per level
box logits [1, A_l, 4 * (reg_max + 1)]) and the model's `input_size`, `strides` and `reg_max`. The layers are
module-level Paddle layers, traceable by paddle 3.x (PIR) and by paddle 2.6 (legacy IR): paddle 2.6's dy2static
converts only functions it can find at module level, and its legacy IR has no `_C_ops` in static mode, so NMS
appends the `multiclass_nms3` op itself there. Decoding is written with softmax + matmul (no ReduceSum: pnnx turns
it into a no-op ncnn Reduction). This module imports paddle: import it inside functions. Graph input and output
names are in metadata.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..defaults import NMS_OPTIONS
from ..models.postprocess import anchor_centers


def build_export_layer(model: Any, postprocess: str) -> Any:
    """The layer to export for `postprocess` (the detector itself for `none`), in eval mode."""
    layer = model
    if postprocess != "none":
        layer = (NmsHead if postprocess == "nms" else DecodeHead)(model)
    layer.eval()
    return layer


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
        return multiclass_nms(boxes / scale, scores)


def multiclass_nms(boxes: paddle.Tensor, scores: paddle.Tensor) -> list[paddle.Tensor]:
    """`multiclass_nms3` with NMS_OPTIONS: [bbox, bbox_num] (the legacy-IR op where `_C_ops` is unavailable)."""
    o = NMS_OPTIONS  # attrs spelled out: paddle 2.6's dy2static rewrites zip() and rejects strict=
    attrs = {
        "score_threshold": o["score_threshold"], "nms_top_k": o["nms_top_k"], "keep_top_k": o["keep_top_k"],
        "nms_threshold": o["nms_threshold"], "normalized": True, "nms_eta": 1.0, "background_label": -1,
    }  # fmt: skip
    if paddle.framework.in_dynamic_or_pir_mode():
        bbox, _, num = paddle._C_ops.multiclass_nms3(boxes, scores, None, *attrs.values())
        return [bbox, num]
    helper = paddle.base.layer_helper.LayerHelper("multiclass_nms3")
    bbox = helper.create_variable_for_type_inference(dtype=boxes.dtype)
    index = helper.create_variable_for_type_inference(dtype="int32")
    num = helper.create_variable_for_type_inference(dtype="int32")
    helper.append_op(
        type="multiclass_nms3",
        inputs={"BBoxes": boxes, "Scores": scores},
        attrs=attrs,
        outputs={"Out": bbox, "Index": index, "NmsRoisNum": num},
    )
    return [bbox, num]
