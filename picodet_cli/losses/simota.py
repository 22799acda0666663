"""SimOTA label assignment (PicoDet v1): dynamic-k matching on a VFL + GIoU cost, one image at a time.

Computed in numpy (float32, in the original's operation order). Where the k lowest costs of a GT are not
unique (exact ties at the cut), the choice is delegated to `paddle.topk`, whose CPU tie order the original
results depend on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle

from picodet_cli.defaults import DEFAULT_NUM_CLASSES

OUTSIDE_COST = 1e8


@dataclass(frozen=True)
class AssignResult:
    """Per-anchor targets of one image. Background anchors have `labels == num_classes` and `gt_inds == -1`."""

    labels: np.ndarray  # [A] int64
    label_weights: np.ndarray  # [A] float32, all 1
    bbox_targets: np.ndarray  # [A, 4] float32, matched GT box in pixels, 0 for background
    gt_inds: np.ndarray  # [A] int64, matched GT index or -1
    pos_num: int  # max(#positives, 1); 0 for an image without GT boxes (as in the original)


def _background(num_anchors: int, num_classes: int, pos_num: int) -> AssignResult:
    return AssignResult(
        labels=np.full(num_anchors, num_classes, dtype=np.int64),
        label_weights=np.ones(num_anchors, dtype=np.float32),
        bbox_targets=np.zeros((num_anchors, 4), dtype=np.float32),
        gt_inds=np.full(num_anchors, -1, dtype=np.int64),
        pos_num=pos_num,
    )


def _center_masks(
    centers: np.ndarray, strides: np.ndarray, gt_boxes: np.ndarray, center_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """[G,A] masks: anchor centre strictly inside the GT box / inside the ±radius·stride square at the GT centre."""
    x, y = np.ascontiguousarray(centers.T)
    x1, y1, x2, y2 = (col[:, None] for col in gt_boxes.T)
    in_gt = (x > x1) & (x < x2) & (y > y1) & (y < y2)
    cx, cy = (x1 + x2) / np.float32(2.0), (y1 + y2) / np.float32(2.0)
    in_ctr = np.empty_like(in_gt)
    for stride in np.unique(strides):
        cols = strides == stride
        r = np.float32(center_radius) * stride
        xs, ys = x[cols], y[cols]
        in_ctr[:, cols] = (xs > cx - r) & (xs < cx + r) & (ys > cy - r) & (ys < cy + r)
    return in_gt, in_ctr


def _span(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """max(high − low, 0), written into `high` (fewer large temporaries: the assigner is allocation-bound)."""
    high -= low
    return np.maximum(high, np.float32(0.0), out=high)


def pairwise_iou_and_giou_cost(
    gt_boxes: np.ndarray, boxes: np.ndarray, eps: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """IoU [G,n] and 1 − GIoU [G,n] between GTs [G,4] and boxes [n,4], union and hull clamped to ≥ eps."""
    eps32 = np.float32(eps)
    bx1, by1, bx2, by2 = np.ascontiguousarray(boxes.T)
    gx1, gy1, gx2, gy2 = (col[:, None] for col in gt_boxes.T)
    overlap = _span(np.minimum(bx2, gx2), np.maximum(bx1, gx1))
    overlap *= _span(np.minimum(by2, gy2), np.maximum(by1, gy1))
    union = np.add((bx2 - bx1) * (by2 - by1), (gx2 - gx1) * (gy2 - gy1))
    union -= overlap
    np.maximum(union, eps32, out=union)
    iou = overlap / union
    hull = _span(np.maximum(bx2, gx2), np.minimum(bx1, gx1))
    hull *= _span(np.maximum(by2, gy2), np.minimum(by1, gy1))
    np.maximum(hull, eps32, out=hull)
    cost = np.subtract(hull, union, out=union)  # 1 − (IoU − (hull − union) / hull)
    cost /= hull
    np.subtract(iou, cost, out=cost)
    return iou, np.subtract(np.float32(1.0), cost, out=cost)


def _clamped_log_(x: np.ndarray) -> np.ndarray:
    """In-place log clamped at −100, as inside Paddle's `binary_cross_entropy`."""
    with np.errstate(divide="ignore"):
        np.log(x, out=x)
    return np.maximum(x, np.float32(-100.0), out=x)


def vfl_cost(probs: np.ndarray, ious: np.ndarray, gt_labels: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """VFL (gamma 2, IoU-weighted, BCE on probabilities) summed over classes, per (GT, candidate) pair [G,n].

    probs: [n,C]; ious: [G,n]. The target of pair (g, c) is IoU at class gt_labels[g] and 0 elsewhere. The 0-target
    terms are summed once per candidate (in float64); where IoU > 0 the GT-class term is swapped for its IoU-target
    term (where IoU = 0 the swap is exactly zero).
    """
    one = np.float32(1.0)
    log_q = _clamped_log_(one - probs)  # [n,C]
    negative = probs * probs
    negative *= np.float32(alpha)
    negative *= log_q
    np.negative(negative, out=negative)  # BCE(p, 0) · alpha · p²
    classes, inverse = np.unique(gt_labels, return_inverse=True)
    log_p_gt, log_q_gt, negative_gt = (np.ascontiguousarray(x[:, classes].T)[inverse] for x in (probs, log_q, negative))
    _clamped_log_(log_p_gt)
    log_p_gt *= ious
    log_q_gt *= one - ious
    swapped = np.add(log_p_gt, log_q_gt, out=log_p_gt)
    np.negative(swapped, out=swapped)  # BCE(p, IoU)
    swapped *= ious
    swapped -= negative_gt
    np.copyto(swapped, np.float32(0.0), where=~(ious > 0))
    swapped += negative.sum(axis=1, dtype=np.float64).astype(np.float32)
    return swapped


def _lowest_k_mask(cost: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """[G,n] mask of the ks[g] lowest costs of each row; exact ties at a cut are settled by `paddle.topk`."""
    num_gt = cost.shape[0]
    k_max = int(ks.max())
    padded = np.hstack([cost, np.full((num_gt, 1), np.inf, dtype=cost.dtype)])  # sentinel: k == n is a clean cut
    smallest = np.sort(np.partition(padded, k_max, axis=1)[:, : k_max + 1], axis=1)
    rows = np.arange(num_gt)
    kth, after = smallest[rows, ks - 1], smallest[rows, ks]
    mask = cost <= kth[:, None]
    for g in np.flatnonzero(after <= kth):
        _, idx = paddle.topk(paddle.to_tensor(cost[g]), k=int(ks[g]), largest=False)
        mask[g] = False
        mask[g, idx.numpy()] = True
    return mask


def _dynamic_k_match(cost: np.ndarray, ious: np.ndarray, candidate_topk: int) -> np.ndarray:
    """Matched GT per candidate [n] (−1 = none): each GT takes its dynamic-k cheapest, conflicts go to min cost."""
    n = cost.shape[1]
    top = min(candidate_topk, n)
    top_ious = -np.sort(np.partition(-ious, top - 1, axis=1)[:, :top], axis=1)
    dynamic_ks = np.maximum(top_ious.sum(axis=1, dtype=np.float32).astype(np.int64), 1)
    match = _lowest_k_mask(cost, dynamic_ks)
    multi = match.sum(axis=0) > 1
    if multi.any():
        match[:, multi] = False
        match[cost[:, multi].argmin(axis=0), np.flatnonzero(multi)] = True
    return np.where(match.any(axis=0), match.argmax(axis=0), -1)


def simota_assign(
    probs: np.ndarray,
    centers: np.ndarray,
    strides: np.ndarray,
    pred_boxes: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    num_classes: int = DEFAULT_NUM_CLASSES,
    center_radius: float = 2.5,
    candidate_topk: int = 10,
    iou_weight: float = 6.0,
    cls_weight: float = 1.0,
) -> AssignResult:
    """Assign one image's anchors with SimOTA.

    probs: [A,C] sigmoid class scores; centers: [A,2] anchor (x, y) in pixels; strides: [A];
    pred_boxes: [A,4] decoded predictions in pixels (not clipped); gt_boxes: [G,4] pixels; gt_labels: [G] ints.
    """
    num_anchors = probs.shape[0]
    gt_boxes = np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    if gt_boxes.shape[0] == 0:
        return _background(num_anchors, num_classes, pos_num=0)
    probs, centers, pred_boxes = (np.asarray(a, dtype=np.float32) for a in (probs, centers, pred_boxes))
    in_gt, in_ctr = _center_masks(centers, np.asarray(strides, dtype=np.float32), gt_boxes, center_radius)
    cand = np.flatnonzero(in_gt.any(axis=0) | in_ctr.any(axis=0))
    if cand.size == 0:
        return _background(num_anchors, num_classes, pos_num=1)

    ious, giou_cost = pairwise_iou_and_giou_cost(gt_boxes, pred_boxes[cand])
    cost = vfl_cost(probs[cand], ious, gt_labels)
    cost *= np.float32(cls_weight)
    giou_cost *= np.float32(iou_weight)
    cost += giou_cost
    np.add(cost, np.float32(OUTSIDE_COST), out=cost, where=~(in_gt & in_ctr)[:, cand])
    matched = _dynamic_k_match(cost, ious, candidate_topk)

    gt_inds = np.full(num_anchors, -1, dtype=np.int64)
    gt_inds[cand] = matched
    pos = gt_inds >= 0
    labels = np.full(num_anchors, num_classes, dtype=np.int64)
    labels[pos] = gt_labels[gt_inds[pos]]
    bbox_targets = np.zeros((num_anchors, 4), dtype=np.float32)
    bbox_targets[pos] = gt_boxes[gt_inds[pos]]
    return AssignResult(
        labels=labels,
        label_weights=np.ones(num_anchors, dtype=np.float32),
        bbox_targets=bbox_targets,
        gt_inds=gt_inds,
        pos_num=max(int(pos.sum()), 1),
    )
