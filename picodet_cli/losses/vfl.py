"""Varifocal loss (IoU-weighted, on logits) as used by the PicoDet v1 classification branch."""

from __future__ import annotations

import paddle
import paddle.nn.functional as F


def varifocal_loss(
    logits: paddle.Tensor, target: paddle.Tensor, alpha: float = 0.75, gamma: float = 2.0
) -> paddle.Tensor:
    """Element-wise VFL: BCE-with-logits × (target where target > 0, else alpha·|sigmoid(logits) − target|^gamma).

    `target` is the IoU-aware soft label (IoU at the assigned class of a positive, 0 elsewhere). As in the
    original, the focal weight is differentiated too. Returns a tensor shaped like `logits`; the caller reduces it.
    """
    target = target.astype(logits.dtype)
    distance = (F.sigmoid(logits) - target).abs()
    focal = distance * distance if gamma == 2.0 else distance.pow(gamma)
    weight = paddle.where(target > 0.0, target, alpha * focal)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
