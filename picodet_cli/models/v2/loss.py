"""PicoDet v2 training losses (spec §6.3): VFL on the v2 scores, GIoU and DFL on the positives, all divided by
the sum of the soft targets; targets from ATSS below `static_assigner_epoch`, from TaskAligned from it on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F

from ...defaults import DEFAULT_NUM_CLASSES
from ...losses.gfl import bbox2distance, distribution_focal_loss, giou_loss
from .assigners import Anchors, atss_assign, bbox_center, grid_cell_anchors, task_aligned_assign
from .head import scores as v2_scores

ArrayLike = np.ndarray | paddle.Tensor
Reduce = Callable[[paddle.Tensor], paddle.Tensor]
STATIC_ASSIGNER_EPOCH = 100
LOSS_WEIGHTS = (1.0, 2.5, 0.5)  # VFL, GIoU, DFL
VFL_ALPHA = 0.75


def _rows(x: paddle.Tensor) -> paddle.Tensor:
    """[N, K, H, W] -> [N, H*W, K]."""
    return x.flatten(2).transpose([0, 2, 1])


def _pad_gts(
    gt_bboxes: Sequence[ArrayLike], gt_classes: Sequence[ArrayLike]
) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """Per-image GTs -> [B, n, 4] boxes, [B, n, 1] labels and [B, n, 1] mask, padded as upstream's PadGT."""
    boxes = [np.asarray(b.numpy() if isinstance(b, paddle.Tensor) else b, np.float32).reshape(-1, 4) for b in gt_bboxes]
    labels = [np.asarray(c.numpy() if isinstance(c, paddle.Tensor) else c, np.int64).reshape(-1) for c in gt_classes]
    if [len(b) for b in boxes] != [len(c) for c in labels]:
        raise ValueError("every image needs as many GT classes as GT boxes")
    num = max((len(b) for b in boxes), default=0)
    pad_boxes = np.zeros((len(boxes), num, 4), np.float32)
    pad_labels = np.zeros((len(boxes), num, 1), np.int64)
    mask = np.zeros((len(boxes), num, 1), np.float32)
    for i, (b, c) in enumerate(zip(boxes, labels, strict=True)):
        pad_boxes[i, : len(b)], pad_labels[i, : len(c), 0], mask[i, : len(b)] = b, c, 1.0
    return paddle.to_tensor(pad_boxes), paddle.to_tensor(pad_labels), paddle.to_tensor(mask)


def _decode_train(
    bbox_reg: Sequence[paddle.Tensor], strides: Sequence[int], reg_max: int, anchors: Anchors
) -> paddle.Tensor:
    """Predicted boxes [N, A, 4] in stride units, as upstream's training forward: (centre -+ d * s) / s."""
    project = paddle.arange(reg_max + 1, dtype="float32")
    boxes, start = [], 0
    for reg, stride, count in zip(bbox_reg, strides, anchors.num_per_level, strict=True):
        n = reg.shape[0]
        probs = F.softmax(reg.transpose([0, 2, 3, 1]).reshape([-1, reg_max + 1]), axis=1)
        distances = paddle.matmul(probs, project).reshape([n, count, 4]) * stride
        points = anchors.points[start : start + count]
        box = paddle.concat([points - distances[..., :2], points + distances[..., 2:]], axis=-1)
        boxes.append(box / stride)
        start += count
    return paddle.concat(boxes, axis=1)


def varifocal_loss(pred: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
    """Element-wise VFL on probabilities (use_sigmoid False, IoU-weighted, gamma 2): BCE(p, q) * (q if q > 0 else
    0.75 * (p - q)^2), the focal weight differentiated too; Paddle's BCE clamps each log at -100. (Upstream writes
    q * [q > 0] + 0.75 * |p - q|^2 * [q <= 0]: the same values and gradients, with two more passes.)"""
    distance = pred - target
    weight = paddle.where(target > 0.0, target, VFL_ALPHA * (distance * distance))
    return F.binary_cross_entropy(pred, target, reduction="none") * weight


def compute_losses(
    cls_logits: Sequence[paddle.Tensor],
    bbox_reg: Sequence[paddle.Tensor],
    align_logits: Sequence[paddle.Tensor],
    gt_bboxes: Sequence[ArrayLike],
    gt_classes: Sequence[ArrayLike],
    strides: Sequence[int] = (8, 16, 32, 64),
    reg_max: int = 7,
    num_classes: int = DEFAULT_NUM_CLASSES,
    epoch: int = 0,
    static_assigner_epoch: int = STATIC_ASSIGNER_EPOCH,
    num_pos_reduce: Reduce | None = None,
) -> dict[str, paddle.Tensor]:
    """v2 losses of one batch: `loss_vfl`, `loss_bbox`, `loss_dfl` and their sum `loss` (0-d tensors).

    Head outputs per level: class logits [N,C,H,W], box logits [N,4*(reg_max+1),H,W], align logits [N,1,H,W];
    GTs per image: boxes [G,4] (x1, y1, x2, y2, input pixels) and classes [G] or [G,1]. `num_pos_reduce` maps a
    local scalar to its mean over ranks (data-parallel; the divisor is then clipped to >= 1, as upstream);
    None means one process, where the divisor is used as is (as upstream), except that a batch whose soft targets
    sum to 0 (no positive, or no overlap yet) divides by 1 where upstream would give inf/NaN.
    """
    if not len(cls_logits) == len(bbox_reg) == len(align_logits) == len(strides):
        raise ValueError(
            f"got {len(cls_logits)} / {len(bbox_reg)} / {len(align_logits)} maps for {len(strides)} strides"
        )
    anchors = grid_cell_anchors([tuple(c.shape[2:]) for c in cls_logits], strides)
    scores = paddle.concat([_rows(v2_scores(c, a)) for c, a in zip(cls_logits, align_logits, strict=True)], axis=1)
    regs = paddle.concat([_rows(r) for r in bbox_reg], axis=1)
    pred_boxes = _decode_train(bbox_reg, strides, reg_max, anchors)
    pad_boxes, pad_labels, pad_mask = _pad_gts(gt_bboxes, gt_classes)
    if len(pad_boxes) != scores.shape[0]:
        raise ValueError(f"expected GT boxes and classes for {scores.shape[0]} images")

    pixel_boxes = pred_boxes.detach() * anchors.strides
    if epoch < static_assigner_epoch:
        assigned = atss_assign(anchors, pad_labels, pad_boxes, pad_mask, pixel_boxes, num_classes, num_classes)
    else:
        assigned = task_aligned_assign(
            scores.detach(), pixel_boxes, anchors.points, pad_labels, pad_boxes, pad_mask, num_classes, num_classes
        )

    num_images = scores.shape[0]
    flat_scores = scores.reshape([-1, num_classes])
    flat_targets = assigned.scores.reshape([-1, num_classes])
    labels = assigned.labels.reshape([-1]).numpy()
    pos = np.flatnonzero((labels >= 0) & (labels < num_classes))
    w_vfl, w_bbox, w_dfl = LOSS_WEIGHTS
    if pos.size:
        pos_index = paddle.to_tensor(pos)
        strides_flat = anchors.strides.tile([num_images, 1])
        pos_strides = paddle.gather(strides_flat, pos_index)
        targets = paddle.gather((assigned.boxes / anchors.strides).reshape([-1, 4]), pos_index)
        pred = paddle.gather(pred_boxes.reshape([-1, 4]), pos_index)
        pos_reg = paddle.gather(regs.reshape([-1, 4 * (reg_max + 1)]), pos_index)
        centers = paddle.gather(bbox_center(anchors.boxes).tile([num_images, 1]), pos_index) / pos_strides
        weight = paddle.gather(flat_targets.max(axis=1, keepdim=True), pos_index)  # [P, 1]
        bbox_sum = (giou_loss(pred, targets).unsqueeze(-1) * weight).sum() * w_bbox
        dfl = distribution_focal_loss(
            pos_reg.reshape([-1, reg_max + 1]), bbox2distance(centers, targets, reg_max).reshape([-1])
        )
        dfl_sum = (dfl * weight.expand([-1, 4]).reshape([-1])).sum() / 4.0 * w_dfl
    else:
        bbox_sum = dfl_sum = regs.sum() * 0.0

    avg_factor = flat_targets.sum()
    if num_pos_reduce is not None:
        avg_factor = paddle.clip(num_pos_reduce(avg_factor), min=1.0)
    elif float(avg_factor) == 0.0:
        avg_factor = paddle.ones([])  # upstream would divide by 0
    loss_vfl = varifocal_loss(flat_scores, flat_targets).sum() * w_vfl / avg_factor
    loss_bbox = bbox_sum / avg_factor
    loss_dfl = dfl_sum / avg_factor
    return {"loss_vfl": loss_vfl, "loss_bbox": loss_bbox, "loss_dfl": loss_dfl, "loss": loss_vfl + loss_bbox + loss_dfl}
