"""PicoDet v2 decoding in plain numpy (spec §5.2, §8), shared by the Paddle model and exported runtimes.

v2 evaluation decodes every anchor: score = sqrt(sigmoid(cls) * sigmoid(align) + 1e-9), distances by the
softmax integral, box = (cell centre -+ distance) * stride in network-input pixels, divided by the scale factor,
then multi-class NMS. Unlike v1 there is no per-level top-k and no clipping to the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...errors import PicodetError
from ..postprocess import distribution_to_distance, multiclass_nms, sigmoid

SCORE_EPS = np.float32(1e-9)
CELL_OFFSET = 0.5


def v2_scores(cls_logits: np.ndarray, align_logits: np.ndarray) -> np.ndarray:
    """sqrt(sigmoid(cls) * sigmoid(align) + 1e-9) in float32; `align_logits` has one channel and broadcasts."""
    cls = sigmoid(np.asarray(cls_logits, np.float32))
    return np.sqrt(cls * sigmoid(np.asarray(align_logits, np.float32)) + SCORE_EPS)


def _rows(x: np.ndarray) -> np.ndarray:
    """[N, K, H, W] -> [N, H*W, K] (row-major cells)."""
    n, k, h, w = x.shape
    return np.asarray(x, np.float32).reshape(n, k, h * w).transpose(0, 2, 1)


def _per_image(values: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, np.float32).reshape(-1, 2), (n, 2))


def decode_deploy(
    scores: Sequence[np.ndarray],
    box_logits: Sequence[np.ndarray],
    level_shapes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    reg_max: int = 7,
    scale_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Deploy-layout levels (scores [N, h*w, C] after the v2 formula, box logits [N, h*w, 4*(reg_max+1)]) ->
    boxes [N, A, 4] and scores [N, C, A] over all anchors; boxes in input pixels, or divided by `scale_factor`
    ([N, 2] as (scale_y, scale_x)) when given."""
    level_boxes = []
    for logits, (h, w), stride in zip(box_logits, level_shapes, strides, strict=True):
        xs = np.arange(w, dtype=np.float32) + np.float32(CELL_OFFSET)
        ys = np.arange(h, dtype=np.float32) + np.float32(CELL_OFFSET)
        cells = np.stack([np.tile(xs, h), np.repeat(ys, w)], axis=-1)  # [h*w, 2] in stride units
        distances = distribution_to_distance(np.asarray(logits, np.float32), reg_max)
        boxes = np.concatenate([cells - distances[..., :2], cells + distances[..., 2:]], axis=-1)
        level_boxes.append(boxes * np.float32(stride))
    boxes = np.concatenate(level_boxes, axis=1)
    if scale_factor is not None:
        factor = _per_image(scale_factor, boxes.shape[0])
        sy, sx = factor[:, 0], factor[:, 1]
        boxes = boxes / np.stack([sx, sy, sx, sy], axis=-1)[:, None, :]
    all_scores = np.concatenate([np.asarray(s, np.float32) for s in scores], axis=1).transpose(0, 2, 1)
    return boxes.astype(np.float32), all_scores


def decode_logits(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    align_logits: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int = 7,
    scale_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Head logits (per level NCHW) -> boxes [N, A, 4] and scores [N, C, A], as `decode_deploy`."""
    scores = [_rows(v2_scores(c, a)) for c, a in zip(cls_logits, align_logits, strict=True)]
    shapes = [tuple(c.shape[2:]) for c in cls_logits]
    return decode_deploy(scores, [_rows(r) for r in bbox_reg], shapes, strides, reg_max, scale_factor)


def postprocess_logits(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    align_logits: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray,
    score_threshold: float = 0.025,
    nms_threshold: float = 0.6,
    nms_top_k: int = 1000,
    keep_top_k: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Head logits -> `bbox` [M, 6] rows (class, score, x1, y1, x2, y2) in original pixels and `bbox_num` [N]."""
    boxes, scores = decode_logits(cls_logits, bbox_reg, align_logits, strides, reg_max, scale_factor)
    return multiclass_nms(boxes, scores, score_threshold, nms_threshold, nms_top_k, keep_top_k)


def postprocess_deploy(
    scores: Sequence[np.ndarray],
    box_logits: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray,
    score_threshold: float = 0.025,
    nms_threshold: float = 0.6,
    nms_top_k: int = 1000,
    keep_top_k: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Deploy-layout outputs (upstream's `_non_postprocess` export: per level v2 scores [N, h*w, C] and raw box
    logits [N, h*w, 4*(reg_max+1)]) -> `bbox` [M, 6] and `bbox_num` [N], the same result as the Paddle model."""
    height, width = input_hw
    shapes = [(math.ceil(height / s), math.ceil(width / s)) for s in strides]
    for level, (s, b, (h, w)) in enumerate(zip(scores, box_logits, shapes, strict=True)):
        if s.shape[1] != h * w or b.shape[1] != h * w:
            raise PicodetError(
                f"level {level} has {s.shape[1]} / {b.shape[1]} anchors, expected {h * w} for input {input_hw}",
                "pass the input size the model was exported with",
            )
    boxes, all_scores = decode_deploy(scores, box_logits, shapes, strides, reg_max, scale_factor)
    return multiclass_nms(boxes, all_scores, score_threshold, nms_threshold, nms_top_k, keep_top_k)
