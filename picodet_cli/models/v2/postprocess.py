"""PicoDet v2 decoding in plain numpy (spec §5.2, §8), shared by the Paddle model and exported runtimes.

v2 evaluation decodes every anchor: score = sqrt(sigmoid(cls) * sigmoid(align) + 1e-9), distances by the
softmax integral, box = cell centre -+ distance * stride in network-input pixels, divided by the scale factor,
then multi-class NMS. It is v1's pipeline (`models/postprocess.py`) without the per-level top-k and without
clipping to the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...defaults import NMS_IOU_THRESHOLD, NMS_KEEP_TOP_K, NMS_SCORE_THRESHOLD, NMS_TOP_K
from .. import postprocess as v1

SCORE_EPS = np.float32(1e-9)


def v2_scores(cls_logits: np.ndarray, align_logits: np.ndarray) -> np.ndarray:
    """sqrt(sigmoid(cls) * sigmoid(align) + 1e-9) in float32; `align_logits` has one channel and broadcasts."""
    cls = v1.sigmoid(np.asarray(cls_logits, np.float32))
    return np.sqrt(cls * v1.sigmoid(np.asarray(align_logits, np.float32)) + SCORE_EPS)


def decode_logits(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    align_logits: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int = 7,
    scale_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Head logits (per level NCHW) -> boxes [N, A, 4] and scores [N, C, A] over all anchors; boxes in input
    pixels, or divided by `scale_factor` ([N, 2] as (scale_y, scale_x)) when given."""
    scores = [v1.rows(v2_scores(c, a)) for c, a in zip(cls_logits, align_logits, strict=True)]
    shapes = [tuple(c.shape[2:]) for c in cls_logits]
    box_logits = [v1.rows(r) for r in bbox_reg]
    return v1.decode_levels(scores, box_logits, shapes, strides, reg_max, None, None, scale_factor)


def postprocess_logits(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    align_logits: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray,
    score_threshold: float = NMS_SCORE_THRESHOLD,
    nms_threshold: float = NMS_IOU_THRESHOLD,
    nms_top_k: int = NMS_TOP_K,
    keep_top_k: int = NMS_KEEP_TOP_K,
) -> tuple[np.ndarray, np.ndarray]:
    """Head logits -> `bbox` [M, 6] rows (class, score, x1, y1, x2, y2) in original pixels and `bbox_num` [N]."""
    boxes, scores = decode_logits(cls_logits, bbox_reg, align_logits, strides, reg_max, scale_factor)
    return v1.multiclass_nms(boxes, scores, score_threshold, nms_threshold, nms_top_k, keep_top_k)


def postprocess_deploy(
    scores: Sequence[np.ndarray],
    box_logits: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray,
    **nms_options: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Deploy-layout outputs (upstream's `_non_postprocess` export: per level v2 scores [N, h*w, C] and raw box
    logits [N, h*w, 4*(reg_max+1)]) -> `bbox` [M, 6] and `bbox_num` [N], the same result as the Paddle model."""
    nms_options.pop("nms_pre", None)  # v2 has no per-level top-k
    return v1.postprocess_deploy(
        scores, box_logits, input_hw, strides, reg_max, scale_factor, nms_pre=None, clip=False, **nms_options
    )
