"""GFL-style box pieces: distribution integral, distance/box conversion, GIoU loss and distribution focal loss."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F


def distribution_project(reg_logits: paddle.Tensor, reg_max: int = 7) -> paddle.Tensor:
    """Expected bin per side: [..., 4·(reg_max+1)] logits → [..., 4] distances (l, t, r, b) in bins."""
    project = paddle.arange(reg_max + 1, dtype=reg_logits.dtype)
    probs = F.softmax(reg_logits.reshape([-1, reg_max + 1]), axis=1)
    return paddle.matmul(probs, project).reshape([*reg_logits.shape[:-1], 4])


def distance2bbox(points: paddle.Tensor, distances: paddle.Tensor) -> paddle.Tensor:
    """Points [P,2] (x, y) and distances [P,4] (l, t, r, b) → boxes [P,4] (x1, y1, x2, y2)."""
    x, y = points[:, 0], points[:, 1]
    return paddle.stack([x - distances[:, 0], y - distances[:, 1], x + distances[:, 2], y + distances[:, 3]], axis=-1)


def bbox2distance(points: paddle.Tensor, boxes: paddle.Tensor, reg_max: int = 7, eps: float = 0.1) -> paddle.Tensor:
    """Boxes [P,4] → distances [P,4] (l, t, r, b) from points [P,2], clipped to [0, reg_max − eps]."""
    x, y = points[:, 0], points[:, 1]
    dist = paddle.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], axis=-1)
    return dist.clip(min=0.0, max=reg_max - eps)


def giou_loss(pred: paddle.Tensor, target: paddle.Tensor, eps: float = 1e-10) -> paddle.Tensor:
    """Per-box 1 − GIoU for aligned boxes [P,4] (x1, y1, x2, y2); `eps` is added to union and hull areas."""
    px1, py1, px2, py2 = pred.unbind(axis=-1)
    gx1, gy1, gx2, gy2 = target.unbind(axis=-1)
    inter_w = (paddle.minimum(px2, gx2) - paddle.maximum(px1, gx1)).clip(min=0.0)
    inter_h = (paddle.minimum(py2, gy2) - paddle.maximum(py1, gy1)).clip(min=0.0)
    overlap = inter_w * inter_h
    union = (px2 - px1) * (py2 - py1) + (gx2 - gx1) * (gy2 - gy1) - overlap + eps
    hull = (paddle.maximum(px2, gx2) - paddle.minimum(px1, gx1)) * (paddle.maximum(py2, gy2) - paddle.minimum(py1, gy1))
    hull = hull + eps
    return 1.0 - (overlap / union - (hull - union) / hull)


def distribution_focal_loss(logits: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
    """DFL per row: logits [M, reg_max+1], continuous target [M] in [0, reg_max) → [M]."""
    left = target.astype("int64")
    weight_left = (left + 1).astype(target.dtype) - target
    weight_right = target - left.astype(target.dtype)
    ce_left = F.cross_entropy(logits, left.unsqueeze(-1), reduction="none").squeeze(-1)
    ce_right = F.cross_entropy(logits, (left + 1).unsqueeze(-1), reduction="none").squeeze(-1)
    return ce_left * weight_left + ce_right * weight_right
