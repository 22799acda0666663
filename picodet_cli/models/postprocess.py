"""PicoDet v1 box decoding and multi-class NMS in plain numpy (spec §5.2).

Shared by the Paddle model and every exported runtime. One pipeline with two entry points:
`postprocess_logits` takes the head's NCHW logits, `postprocess_deploy` the exported "deploy
layout" (per level sigmoid scores [N, h·w, C] and raw box logits [N, h·w, 4·(reg_max+1)]).
Both convert to the deploy layout and run `decode_levels` + `multiclass_nms`.

Ties in the per-level top-`nms_pre` cut are broken by anchor index (lower first); Paddle's CPU
top-k orders exact ties differently, which only matters for degenerate (untrained) scores.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from picodet_cli.defaults import NMS_IOU_THRESHOLD, NMS_KEEP_TOP_K, NMS_SCORE_THRESHOLD, NMS_TOP_K
from picodet_cli.errors import PicodetError

NMS_BLOCK = 128  # boxes resolved per step of the greedy NMS (speed only, same result)
Levels = tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, int]]]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in the input's dtype (exp overflow saturates to 0, as in Paddle)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def anchor_centers(
    level_shapes: Sequence[tuple[int, int]], strides: Sequence[int], cell_offset: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor points [A, 2] as (x, y) pixels and their strides [A]; levels concatenated, row-major."""
    points, anchor_strides = [], []
    for (h, w), stride in zip(level_shapes, strides, strict=True):
        xs, ys = (np.arange(w) + cell_offset) * stride, (np.arange(h) + cell_offset) * stride
        points.append(np.stack([np.tile(xs, h), np.repeat(ys, w)], axis=-1))
        anchor_strides.append(np.full(h * w, stride))
    return np.concatenate(points).astype(np.float32), np.concatenate(anchor_strides).astype(np.float32)


def distribution_to_distance(logits: np.ndarray, reg_max: int = 7) -> np.ndarray:
    """[..., 4·(reg_max+1)] bin logits → [..., 4] distances (l, t, r, b) in bins: softmax integral."""
    bins = reg_max + 1
    if logits.shape[-1] != 4 * bins:
        raise ValueError(f"expected last dim {4 * bins} for reg_max={reg_max}, got {logits.shape[-1]}")
    x = logits.reshape(*logits.shape[:-1], 4, bins)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ np.arange(bins, dtype=e.dtype)


def decode_v1(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int,
    im_shape: np.ndarray,
    scale_factor: np.ndarray,
    nms_pre: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """v1 eval decode: boxes [N, M, 4] (original-image pixels) and scores [N, C, M] fed to NMS."""
    scores, box_logits, shapes = _deploy_layout(cls_logits, bbox_reg)
    return decode_levels(scores, box_logits, shapes, strides, reg_max, nms_pre, im_shape, scale_factor)


def decode_all(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every anchor decoded, no top-k, no clipping: boxes [N, A, 4], scores [N, C, A].

    Boxes are in network-input pixels, or divided by `scale_factor` ([y, x]) when given.
    """
    scores, box_logits, shapes = _deploy_layout(cls_logits, bbox_reg)
    return decode_levels(scores, box_logits, shapes, strides, reg_max, None, None, scale_factor)


def postprocess_logits(
    cls_logits: Sequence[np.ndarray],
    bbox_reg: Sequence[np.ndarray],
    strides: Sequence[int],
    reg_max: int,
    im_shape: np.ndarray,
    scale_factor: np.ndarray,
    score_threshold: float = NMS_SCORE_THRESHOLD,
    nms_threshold: float = NMS_IOU_THRESHOLD,
    nms_top_k: int = NMS_TOP_K,
    keep_top_k: int = NMS_KEEP_TOP_K,
    nms_pre: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Head logits (per level [N, C, H, W] and [N, 4·(reg_max+1), H, W]) → `bbox` [M, 6], `bbox_num` [N]."""
    boxes, scores = decode_v1(cls_logits, bbox_reg, strides, reg_max, im_shape, scale_factor, nms_pre)
    return multiclass_nms(boxes, scores, score_threshold, nms_threshold, nms_top_k, keep_top_k)


def postprocess_deploy(
    scores: Sequence[np.ndarray],
    box_logits: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    strides: Sequence[int],
    reg_max: int,
    scale_factor: np.ndarray,
    score_threshold: float = NMS_SCORE_THRESHOLD,
    nms_threshold: float = NMS_IOU_THRESHOLD,
    nms_top_k: int = NMS_TOP_K,
    keep_top_k: int = NMS_KEEP_TOP_K,
    nms_pre: int | None = 1000,
    clip: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Deploy-layout outputs (per level scores [N, h·w, C], box logits [N, h·w, 4·(reg_max+1)]).

    Level grids are ceil(input_hw / stride); returns `bbox` [M, 6] and `bbox_num` [N] like the Paddle model.
    v1 keeps the top `nms_pre` anchors per level and clips boxes to the input (`clip`); v2 passes None / False.
    """
    height, width = input_hw
    shapes = [(math.ceil(height / s), math.ceil(width / s)) for s in strides]
    scores = [np.asarray(s, np.float32) for s in scores]
    box_logits = [np.asarray(b, np.float32) for b in box_logits]
    for level, (s, b, (h, w)) in enumerate(zip(scores, box_logits, shapes, strict=True)):
        if s.shape[1] != h * w or b.shape[1] != h * w:
            raise PicodetError(
                f"level {level} has {s.shape[1]} / {b.shape[1]} anchors, expected {h * w} for input {input_hw}",
                "pass the input size the model was exported with",
            )
    im_shape = np.array([height, width], np.float32) if clip else None
    boxes, cls_scores = decode_levels(scores, box_logits, shapes, strides, reg_max, nms_pre, im_shape, scale_factor)
    return multiclass_nms(boxes, cls_scores, score_threshold, nms_threshold, nms_top_k, keep_top_k)


def multiclass_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    score_threshold: float = NMS_SCORE_THRESHOLD,
    nms_threshold: float = NMS_IOU_THRESHOLD,
    nms_top_k: int = NMS_TOP_K,
    keep_top_k: int = NMS_KEEP_TOP_K,
    normalized: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Paddle `multiclass_nms3` (no background class): boxes [N, M, 4], scores [N, C, M].

    Returns `bbox` [K, 6] rows `[class, score, x1, y1, x2, y2]` grouped by image, ascending class,
    descending score (ties: lower box index first) and `bbox_num` [N] int32. A negative
    `nms_top_k` / `keep_top_k` disables that cut.
    """
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    thresholds = np.float32(score_threshold), np.float32(nms_threshold)  # compared in float32, as in Paddle
    per_image = [
        _nms_image(b, s, *thresholds, nms_top_k, keep_top_k, normalized) for b, s in zip(boxes, scores, strict=True)
    ]
    bbox = np.concatenate(per_image) if per_image else np.zeros((0, 6), np.float32)
    return bbox, np.array([len(d) for d in per_image], np.int32)


def rows(x: np.ndarray) -> np.ndarray:
    """[N, K, H, W] → [N, H·W, K] float32 (row-major cells)."""
    n, k, h, w = x.shape
    return np.asarray(x, np.float32).reshape(n, k, h * w).transpose(0, 2, 1)


def _deploy_layout(cls_logits: Sequence[np.ndarray], bbox_reg: Sequence[np.ndarray]) -> Levels:
    """NCHW head logits → per level sigmoid scores [N, h·w, C], box logits [N, h·w, K] and (h, w)."""
    scores = [sigmoid(rows(c)) for c in cls_logits]
    return scores, [rows(r) for r in bbox_reg], [tuple(c.shape[2:]) for c in cls_logits]


def _per_image(values: np.ndarray | None, n: int) -> np.ndarray | None:
    """[2] or [N, 2] (y, x) pairs → [N, 2] float32."""
    return None if values is None else np.broadcast_to(np.asarray(values, np.float32).reshape(-1, 2), (n, 2))


def decode_levels(
    scores: Sequence[np.ndarray],
    box_logits: Sequence[np.ndarray],
    level_shapes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    reg_max: int,
    nms_pre: int | None,
    im_shape: np.ndarray | None,
    scale_factor: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per level: optional top-`nms_pre` by max class score, decode, optional clip to `im_shape`.

    Then concatenate levels and optionally divide by `scale_factor`. Returns boxes [N, M, 4], scores [N, C, M].
    """
    n = scores[0].shape[0]
    im_shape, scale_factor = _per_image(im_shape, n), _per_image(scale_factor, n)
    level_boxes, level_scores = [], []
    for s, logits, shape, stride in zip(scores, box_logits, level_shapes, strides, strict=True):
        points = np.broadcast_to(anchor_centers([shape], [stride])[0], (n, s.shape[1], 2))
        distances = distribution_to_distance(logits, reg_max) * np.float32(stride)
        if nms_pre is not None and s.shape[1] > nms_pre:
            top = np.argsort(-s.max(axis=-1), axis=1, kind="stable")[:, :nms_pre, None]
            s, points, distances = (np.take_along_axis(a, top, axis=1) for a in (s, points, distances))
        boxes = np.concatenate([points - distances[..., :2], points + distances[..., 2:]], axis=-1)
        if im_shape is not None:
            h, w = im_shape[:, 0], im_shape[:, 1]
            boxes = np.clip(boxes, np.float32(0), np.stack([w, h, w, h], axis=-1)[:, None, :])
        level_boxes.append(boxes)
        level_scores.append(s)
    boxes = np.concatenate(level_boxes, axis=1)
    if scale_factor is not None:
        sy, sx = scale_factor[:, 0], scale_factor[:, 1]
        boxes = boxes / np.stack([sx, sy, sx, sy], axis=-1)[:, None, :]
    return boxes, np.concatenate(level_scores, axis=1).transpose(0, 2, 1)


def _nms_image(
    boxes: np.ndarray,
    scores: np.ndarray,
    score_threshold: float,
    nms_threshold: float,
    nms_top_k: int,
    keep_top_k: int,
    normalized: bool,
) -> np.ndarray:
    """One image: boxes [M, 4], scores [C, M] → rows [K, 6] in Paddle's output order."""
    cls, idx = np.nonzero(scores > score_threshold)
    cand = scores[cls, idx]
    order = np.lexsort((-cand, cls))  # class ascending, score descending, index ascending (stable)
    cls, idx, cand = cls[order], idx[order], cand[order]
    bounds = np.flatnonzero(np.diff(cls, prepend=-1, append=-1))  # where each class run starts, plus the end
    areas = _areas(boxes, normalized)
    kept = []
    for start, end in itertools.pairwise(bounds):
        if nms_top_k >= 0:
            end = min(end, start + nms_top_k)
        members = idx[start:end]
        kept.append(start + _greedy_nms(boxes[members], areas[members], nms_threshold, normalized))
    kept = np.concatenate(kept) if kept else np.zeros(0, np.intp)
    if 0 <= keep_top_k < kept.size:
        kept = kept[np.sort(np.argsort(-cand[kept], kind="stable")[:keep_top_k])]
    rows = np.concatenate([cls[kept, None], cand[kept, None], boxes[idx[kept]]], axis=1)
    return rows.astype(np.float32)


def _areas(boxes: np.ndarray, normalized: bool) -> np.ndarray:
    """Box areas as Paddle computes them: 0 for inverted boxes, +1 on each side when not normalized."""
    norm = np.float32(0 if normalized else 1)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.where((w < 0) | (h < 0), np.float32(0), (w + norm) * (h + norm))


def _greedy_nms(boxes: np.ndarray, areas: np.ndarray, threshold: float, normalized: bool) -> np.ndarray:
    """Hard NMS on score-sorted boxes → kept positions; a box is kept while IoU ≤ threshold with every kept one.

    Exact sequential greedy, done in blocks: a block's boxes are first checked against everything kept
    before it (one IoU matrix), then the survivors are resolved among themselves.
    """
    cols = np.vstack([boxes.T, areas])  # [5, K]: x1, y1, x2, y2, area as contiguous rows
    keep = np.zeros(0, np.intp)
    for start in range(0, len(boxes), NMS_BLOCK):
        cand = np.arange(start, min(start + NMS_BLOCK, len(boxes)))
        if keep.size:
            cand = cand[(_iou(cols[:, cand], cols[:, keep], normalized) <= threshold).all(axis=1)]
        compatible = _iou(cols[:, cand], cols[:, cand], normalized) <= threshold
        alive = np.ones(len(cand), bool)
        for j in range(len(cand)):
            if alive[j]:
                alive[j + 1 :] &= compatible[j, j + 1 :]
        keep = np.concatenate([keep, cand[alive]])
    return keep


def _iou(a: np.ndarray, b: np.ndarray, normalized: bool) -> np.ndarray:
    """IoU matrix [A, B] of columns [5, A] and [5, B] (x1, y1, x2, y2, area), float32, Paddle's formula.

    Boxes that do not touch give 0; otherwise the intersection is not clamped, and 0/0 gives NaN,
    which never passes `IoU ≤ threshold` (Paddle suppresses identical zero-area boxes too).
    """
    norm = np.float32(0 if normalized else 1)
    (ax1, ay1, ax2, ay2, a_area), (bx1, by1, bx2, by2, b_area) = a[:, :, None], b[:, None, :]
    apart = (bx1 > ax2) | (bx2 < ax1) | (by1 > ay2) | (by2 < ay1)
    inter = (np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + norm) * (np.minimum(ay2, by2) - np.maximum(ay1, by1) + norm)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(apart, np.float32(0), inter / (a_area + b_area - inter))
