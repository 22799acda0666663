"""v2 label assignment (spec §6.1, §6.2): ATSS for the first `static_assigner_epoch` epochs, then TaskAligned.

Both work on a padded batch, as upstream after PadGT: `gt_labels` [B, n, 1] int, `gt_bboxes` [B, n, 4] (x1, y1,
x2, y2, input pixels), `pad_mask` [B, n, 1] (1 real, 0 padding). They are written with the same Paddle ops, in the
same order, as the original, so exact ties in the top-k selections resolve as they do there. Each returns
`Assignment`: labels [B, A] (background = `bg_index`), boxes [B, A, 4] in pixels (background anchors keep the
box of GT 0, never read) and soft scores [B, A, num_classes].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import paddle
import paddle.nn.functional as F

ATSS_TOPK = 9
TAL_TOPK = 13
TAL_ALPHA = 1.0
TAL_BETA = 6.0
GRID_CELL_SCALE = 5.0
CELL_OFFSET = 0.5
EPS = 1e-9


class Anchors(NamedTuple):
    """Per-anchor geometry, levels concatenated, row-major within a level."""

    boxes: paddle.Tensor  # [A, 4] square anchor boxes of side grid_cell_scale * stride (ATSS)
    points: paddle.Tensor  # [A, 2] cell centres (x, y) in pixels
    strides: paddle.Tensor  # [A, 1]
    num_per_level: list[int]


class Assignment(NamedTuple):
    labels: paddle.Tensor  # [B, A] int
    boxes: paddle.Tensor  # [B, A, 4] pixels
    scores: paddle.Tensor  # [B, A, C] soft targets


def grid_cell_anchors(
    level_shapes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    grid_cell_scale: float = GRID_CELL_SCALE,
    cell_offset: float = CELL_OFFSET,
) -> Anchors:
    """Upstream `generate_anchors_for_grid_cell` for feature maps of the given (h, w)."""
    boxes, points, stride_list, counts = [], [], [], []
    for (h, w), stride in zip(level_shapes, strides, strict=True):
        half = grid_cell_scale * stride * 0.5
        shift_x = (paddle.arange(w, dtype="float32") + cell_offset) * stride
        shift_y = (paddle.arange(h, dtype="float32") + cell_offset) * stride
        shift_y, shift_x = paddle.meshgrid(shift_y, shift_x)
        boxes.append(
            paddle.stack([shift_x - half, shift_y - half, shift_x + half, shift_y + half], -1).reshape([-1, 4])
        )
        points.append(paddle.stack([shift_x, shift_y], -1).reshape([-1, 2]))
        counts.append(h * w)
        stride_list.append(paddle.full([h * w, 1], stride, dtype="float32"))
    return Anchors(paddle.concat(boxes), paddle.concat(points), paddle.concat(stride_list), counts)


def bbox_center(boxes: paddle.Tensor) -> paddle.Tensor:
    return paddle.stack([(boxes[..., 0] + boxes[..., 2]) * 0.5, (boxes[..., 1] + boxes[..., 3]) * 0.5], axis=-1)


def iou_similarity(box1: paddle.Tensor, box2: paddle.Tensor, eps: float = 1e-10) -> paddle.Tensor:
    """IoU [N, M] of boxes [N, 4] and [M, 4]; also batched ([B, N, 4], [B, M, 4] -> [B, N, M])."""
    box1, box2 = box1.unsqueeze(-2), box2.unsqueeze(-3)
    x1y1 = paddle.maximum(box1[..., 0:2], box2[..., 0:2])
    x2y2 = paddle.minimum(box1[..., 2:4], box2[..., 2:4])
    overlap = (x2y2 - x1y1).clip(0).prod(-1)
    area1 = (box1[..., 2:4] - box1[..., 0:2]).clip(0).prod(-1)
    area2 = (box2[..., 2:4] - box2[..., 0:2]).clip(0).prod(-1)
    return overlap / (area1 + area2 - overlap + eps)


def points_inside_boxes(points: paddle.Tensor, boxes: paddle.Tensor, eps: float = EPS) -> paddle.Tensor:
    """[B, n, A] float mask: point [A, 2] strictly inside box [B, n, 4] (every side farther than eps)."""
    x, y = points[:, 0], points[:, 1]
    x1, y1, x2, y2 = (boxes[..., i : i + 1] for i in range(4))
    ltrb = paddle.stack([x - x1, y - y1, x2 - x, y2 - y], axis=-1)
    return (ltrb.min(axis=-1) > eps).astype(boxes.dtype)


def _topk_mask(values: paddle.Tensor, k: int, largest: bool) -> tuple[paddle.Tensor, paddle.Tensor]:
    """(mask [..., L] of the top-k positions along the last axis, their indices [..., k])."""
    k = min(k, values.shape[-1])  # tiny inputs: a level may have fewer anchors than k (upstream would fail)
    _, idx = paddle.topk(values, k, axis=-1, largest=largest)
    return paddle.put_along_axis(paddle.zeros_like(values), idx, 1.0, axis=-1), idx


def _unbiased_std(x: paddle.Tensor) -> paddle.Tensor:
    """`x.std(axis=-1, keepdim=True)` computed as Paddle's CPU `var` does (same values), without the dtype
    promotion warning that `paddle.std` logs on every call."""
    mean = x.mean(axis=-1, keepdim=True)
    return paddle.sqrt(paddle.pow(x - mean, 2).sum(axis=-1, keepdim=True) / float(max(x.shape[-1] - 1, 1)))


def _one_gt_per_anchor(mask_positive: paddle.Tensor, ious: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
    """An anchor positive for several GTs goes to the GT of largest `ious` (over all GTs). Returns the new
    mask and the positive count per anchor [B, A]."""
    mask_sum = mask_positive.sum(axis=-2)
    if float(mask_sum.max()) > 1:
        num_gts = mask_positive.shape[1]
        multiple = (mask_sum.unsqueeze(1) > 1).tile([1, num_gts, 1])
        is_max_iou = F.one_hot(ious.argmax(axis=-2), num_gts).transpose([0, 2, 1]).astype(ious.dtype)
        mask_positive = paddle.where(multiple, is_max_iou, mask_positive)
        mask_sum = mask_positive.sum(axis=-2)
    return mask_positive, mask_sum


def _targets(
    mask_positive: paddle.Tensor,
    mask_sum: paddle.Tensor,
    gt_labels: paddle.Tensor,
    gt_bboxes: paddle.Tensor,
    bg_index: int,
    num_classes: int,
) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """Labels [B, A], boxes [B, A, 4] and one-hot class rows [B, A, C] of the assigned GTs."""
    batch, num_gts = gt_bboxes.shape[:2]
    num_anchors = mask_positive.shape[-1]
    gt_index = mask_positive.argmax(axis=-2) + paddle.arange(batch, dtype="int64").unsqueeze(-1) * num_gts
    labels = paddle.gather(gt_labels.flatten().astype("int64"), gt_index.flatten(), axis=0)
    labels = labels.reshape([batch, num_anchors])
    labels = paddle.where(mask_sum > 0, labels, paddle.full_like(labels, bg_index))
    boxes = paddle.gather(gt_bboxes.reshape([-1, 4]), gt_index.flatten(), axis=0).reshape([batch, num_anchors, 4])
    one_hot = F.one_hot(labels, num_classes + 1)  # then without the background column
    one_hot = paddle.concat([one_hot[..., :bg_index], one_hot[..., bg_index + 1 :]], axis=-1)
    return labels, boxes, one_hot


def _background(batch: int, num_anchors: int, bg_index: int, num_classes: int) -> Assignment:
    return Assignment(
        paddle.full([batch, num_anchors], bg_index, dtype="int64"),
        paddle.zeros([batch, num_anchors, 4]),
        paddle.zeros([batch, num_anchors, num_classes]),
    )


@paddle.no_grad()
def atss_assign(
    anchors: Anchors,
    gt_labels: paddle.Tensor,
    gt_bboxes: paddle.Tensor,
    pad_mask: paddle.Tensor,
    pred_bboxes: paddle.Tensor,
    bg_index: int,
    num_classes: int,
    topk: int = ATSS_TOPK,
) -> Assignment:
    """ATSS (spec §6.1); the soft target of a positive is IoU(its assigned GT, its predicted box [B, A, 4] px)."""
    batch, num_gts = gt_bboxes.shape[:2]
    num_anchors = anchors.boxes.shape[0]
    if num_gts == 0:
        return _background(batch, num_anchors, bg_index, num_classes)
    ious = iou_similarity(gt_bboxes.reshape([-1, 4]), anchors.boxes).reshape([batch, -1, num_anchors])
    gt_centers = bbox_center(gt_bboxes.reshape([-1, 4])).unsqueeze(1)
    anchor_centers = bbox_center(anchors.boxes)
    distances = (gt_centers - anchor_centers.unsqueeze(0)).norm(2, axis=-1).reshape([batch, -1, num_anchors])

    # the `topk` closest anchors of every level are the candidates
    in_topk, topk_idxs, start = [], [], 0
    for level_distances in paddle.split(distances, anchors.num_per_level, axis=-1):
        mask, idx = _topk_mask(level_distances, topk, largest=False)
        in_topk.append(mask * pad_mask)
        topk_idxs.append(idx + start)
        start += level_distances.shape[-1]
    is_in_topk, topk_idxs = paddle.concat(in_topk, axis=-1), paddle.concat(topk_idxs, axis=-1)

    # threshold per GT: mean + (unbiased) std of the candidates' anchor IoUs; keep candidates strictly above
    iou_candidates = ious * is_in_topk
    candidate_ious = paddle.index_sample(iou_candidates.flatten(stop_axis=-2), topk_idxs.flatten(stop_axis=-2))
    candidate_ious = candidate_ious.reshape([batch, num_gts, -1])
    threshold = candidate_ious.mean(axis=-1, keepdim=True) + _unbiased_std(candidate_ious)
    is_in_topk = paddle.where(iou_candidates > threshold, is_in_topk, paddle.zeros_like(is_in_topk))

    is_in_gts = points_inside_boxes(anchor_centers, gt_bboxes)
    mask_positive, mask_sum = _one_gt_per_anchor(is_in_topk * is_in_gts * pad_mask, ious)
    labels, boxes, one_hot = _targets(mask_positive, mask_sum, gt_labels, gt_bboxes, bg_index, num_classes)
    pred_ious = (iou_similarity(gt_bboxes, pred_bboxes, eps=EPS) * mask_positive).max(axis=-2).unsqueeze(-1)
    return Assignment(labels, boxes, one_hot * pred_ious)


@paddle.no_grad()
def task_aligned_assign(
    pred_scores: paddle.Tensor,
    pred_bboxes: paddle.Tensor,
    anchor_points: paddle.Tensor,
    gt_labels: paddle.Tensor,
    gt_bboxes: paddle.Tensor,
    pad_mask: paddle.Tensor,
    bg_index: int,
    num_classes: int,
    topk: int = TAL_TOPK,
    alpha: float = TAL_ALPHA,
    beta: float = TAL_BETA,
) -> Assignment:
    """TaskAligned (spec §6.2) on predicted scores [B, A, C] and boxes [B, A, 4] px; the soft target is the
    alignment metric normalised per GT to its best positive IoU."""
    batch, num_anchors, _ = pred_scores.shape
    num_gts = gt_bboxes.shape[1]
    if num_gts == 0:
        return _background(batch, num_anchors, bg_index, num_classes)
    ious = iou_similarity(gt_bboxes, pred_bboxes, eps=EPS)
    batch_ind = paddle.arange(batch, dtype="int64").unsqueeze(-1)
    label_index = paddle.stack([batch_ind.tile([1, num_gts]), gt_labels.squeeze(-1).astype("int64")], axis=-1)
    gt_class_scores = paddle.gather_nd(pred_scores.transpose([0, 2, 1]), label_index)
    metrics = gt_class_scores.pow(alpha) * ious.pow(beta)

    is_in_gts = points_inside_boxes(anchor_points, gt_bboxes)
    is_in_topk, _ = _topk_mask(metrics * is_in_gts, topk, largest=True)
    is_in_topk = is_in_topk * pad_mask
    mask_positive, mask_sum = _one_gt_per_anchor(is_in_topk * is_in_gts * pad_mask, ious)
    labels, boxes, one_hot = _targets(mask_positive, mask_sum, gt_labels, gt_bboxes, bg_index, num_classes)

    metrics = metrics * mask_positive
    max_metrics = metrics.max(axis=-1, keepdim=True)
    max_ious = (ious * mask_positive).max(axis=-1, keepdim=True)
    metrics = (metrics / (max_metrics + EPS) * max_ious).max(axis=-2).unsqueeze(-1)
    return Assignment(labels, boxes, one_hot * metrics)
