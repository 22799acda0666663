"""PicoDet v1 training losses: SimOTA targets per image, then VFL + GIoU + DFL over all levels of the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F

from picodet_cli.defaults import DEFAULT_NUM_CLASSES
from picodet_cli.losses.gfl import (
    bbox2distance,
    distance2bbox,
    distribution_focal_loss,
    distribution_project,
    giou_loss,
)
from picodet_cli.losses.simota import AssignResult, simota_assign
from picodet_cli.losses.vfl import varifocal_loss
from picodet_cli.models.postprocess import anchor_centers

ArrayLike = np.ndarray | paddle.Tensor
Reduce = Callable[[paddle.Tensor], paddle.Tensor]
DEFAULT_STRIDES = (8, 16, 32, 64)


def _flatten(maps: Sequence[paddle.Tensor]) -> paddle.Tensor:
    """Per-level [N,K,H,W] maps → [N, Σ H·W, K]."""
    return paddle.concat([m.transpose([0, 2, 3, 1]).reshape([m.shape[0], -1, m.shape[1]]) for m in maps], axis=1)


def _numpy(x: ArrayLike) -> np.ndarray:
    return x.numpy() if isinstance(x, paddle.Tensor) else np.asarray(x)


def _assign_flat(
    cls_flat: paddle.Tensor,
    reg_flat: paddle.Tensor,
    centers: np.ndarray,
    anchor_strides: np.ndarray,
    gt_bboxes: Sequence[ArrayLike],
    gt_classes: Sequence[ArrayLike],
    reg_max: int,
    num_classes: int,
) -> list[AssignResult]:
    if len(gt_bboxes) != cls_flat.shape[0] or len(gt_classes) != cls_flat.shape[0]:
        raise ValueError(f"expected GT boxes and classes for {cls_flat.shape[0]} images")
    with paddle.no_grad():
        probs = F.sigmoid(cls_flat).numpy()
        dist = distribution_project(reg_flat, reg_max).numpy()  # [N,A,4] in bins
    stride_col = anchor_strides[:, None]
    cells = centers / stride_col
    boxes = np.concatenate([cells - dist[..., :2], cells + dist[..., 2:]], axis=-1) * stride_col
    return [
        simota_assign(
            probs[b], centers, anchor_strides, boxes[b], _numpy(gt_bboxes[b]), _numpy(gt_classes[b]), num_classes
        )
        for b in range(cls_flat.shape[0])
    ]


def _prepare(
    cls_logits: Sequence[paddle.Tensor], bbox_reg: Sequence[paddle.Tensor], strides: Sequence[int]
) -> tuple[paddle.Tensor, paddle.Tensor, np.ndarray, np.ndarray]:
    if not len(cls_logits) == len(bbox_reg) == len(strides):
        raise ValueError(f"got {len(cls_logits)} class maps, {len(bbox_reg)} box maps and {len(strides)} strides")
    centers, anchor_strides = anchor_centers([tuple(m.shape[-2:]) for m in cls_logits], strides)
    return _flatten(cls_logits), _flatten(bbox_reg), centers, anchor_strides


def assign_targets(
    cls_logits: Sequence[paddle.Tensor],
    bbox_reg: Sequence[paddle.Tensor],
    gt_bboxes: Sequence[ArrayLike],
    gt_classes: Sequence[ArrayLike],
    strides: Sequence[int] = DEFAULT_STRIDES,
    reg_max: int = 7,
    num_classes: int = DEFAULT_NUM_CLASSES,
) -> list[AssignResult]:
    """SimOTA assignment of every image of the batch (anchors level by level, row-major), from the head outputs."""
    cls_flat, reg_flat, centers, anchor_strides = _prepare(cls_logits, bbox_reg, strides)
    return _assign_flat(cls_flat, reg_flat, centers, anchor_strides, gt_bboxes, gt_classes, reg_max, num_classes)


def _aligned_iou(pred: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """IoU of aligned boxes [P,4] (union clamped to ≥ eps), float32."""
    wh = np.clip(np.minimum(pred[:, 2:], target[:, 2:]) - np.maximum(pred[:, :2], target[:, :2]), 0, None)
    overlap = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = np.maximum((area_p + area_t - overlap).astype(np.float64), eps)
    return (overlap / union).astype(np.float32)


def _normalizer(local: paddle.Tensor, reduce: Reduce | None) -> paddle.Tensor:
    """max(value, 1), after averaging over ranks when `reduce` is given."""
    value = local if reduce is None else reduce(local)
    return paddle.clip(value.astype("float32").reshape([]), min=1.0)


def compute_losses(
    cls_logits: Sequence[paddle.Tensor],
    bbox_reg: Sequence[paddle.Tensor],
    gt_bboxes: Sequence[ArrayLike],
    gt_classes: Sequence[ArrayLike],
    strides: Sequence[int] = DEFAULT_STRIDES,
    reg_max: int = 7,
    num_classes: int = DEFAULT_NUM_CLASSES,
    loss_weights: tuple[float, float, float] = (1.0, 2.0, 0.25),
    num_pos_reduce: Reduce | None = None,
) -> dict[str, paddle.Tensor]:
    """PicoDet v1 losses of one batch: `loss_vfl`, `loss_bbox`, `loss_dfl` and their sum `loss` (0-d tensors).

    cls_logits / bbox_reg: per-level head outputs [N,C,H,W] / [N,4·(reg_max+1),H,W]; gt_bboxes: per image [G,4]
    (x1, y1, x2, y2, input pixels); gt_classes: per image [G] or [G,1]. `num_pos_reduce` maps a local scalar
    (positive count, then weight sum) to its mean over ranks; None means a single process.
    """
    cls_flat, reg_flat, centers, anchor_strides = _prepare(cls_logits, bbox_reg, strides)
    results = _assign_flat(cls_flat, reg_flat, centers, anchor_strides, gt_bboxes, gt_classes, reg_max, num_classes)
    num_images, _, num_cls = cls_flat.shape
    cls_all = cls_flat.reshape([-1, num_cls])
    reg_all = reg_flat.reshape([-1, 4 * (reg_max + 1)])
    labels = np.concatenate([r.labels for r in results])
    pos = np.flatnonzero(labels < num_classes)
    n_pos = _normalizer(paddle.to_tensor(float(sum(r.pos_num for r in results))), num_pos_reduce)

    vfl_target = np.zeros(cls_all.shape, dtype=np.float32)
    if pos.size:
        pos_strides = np.tile(anchor_strides, num_images)[pos, None]
        cells = paddle.to_tensor(np.tile(centers, (num_images, 1))[pos] / pos_strides)
        target = paddle.to_tensor(np.concatenate([r.bbox_targets for r in results])[pos] / pos_strides)
        pos_index = paddle.to_tensor(pos)
        pos_reg = paddle.gather(reg_all, pos_index)
        pred = distance2bbox(cells, distribution_project(pos_reg, reg_max))
        vfl_target[pos, labels[pos]] = _aligned_iou(pred.numpy(), target.numpy())
        weight = F.sigmoid(paddle.gather(cls_all, pos_index).detach()).max(axis=1)
        bbox_sum = (giou_loss(pred, target) * weight).sum()
        dfl = distribution_focal_loss(
            pos_reg.reshape([-1, reg_max + 1]), bbox2distance(cells, target, reg_max).reshape([-1])
        )
        dfl_sum = (dfl.reshape([-1, 4]) * weight.unsqueeze(-1)).sum() / 4.0
        weight_sum = weight.sum()
    else:
        bbox_sum = dfl_sum = reg_all.sum() * 0.0
        weight_sum = paddle.zeros([])
    w_norm = _normalizer(weight_sum, num_pos_reduce)

    w_vfl, w_bbox, w_dfl = loss_weights
    loss_vfl = w_vfl * varifocal_loss(cls_all, paddle.to_tensor(vfl_target)).sum() / n_pos
    loss_bbox = w_bbox * bbox_sum / w_norm
    loss_dfl = w_dfl * dfl_sum / w_norm
    return {"loss_vfl": loss_vfl, "loss_bbox": loss_bbox, "loss_dfl": loss_dfl, "loss": loss_vfl + loss_bbox + loss_dfl}
