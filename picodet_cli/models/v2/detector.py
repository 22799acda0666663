"""The PicoDet v2 detector: LCNet -> LCPAN -> PicoHeadV2 on the common `Detector` (same public API as v1)."""

from __future__ import annotations

import numpy as np
import paddle

from ..detector import Detector, HeadOutputs, NumpyOutputs
from .head import PicoHeadV2, scores
from .neck import LCPAN


class PicoDetV2(Detector):
    """PicoDet v2: scores sqrt(sigmoid(cls) * sigmoid(align) + 1e-9), every anchor decoded without clipping,
    ATSS assignment below `static_assigner_epoch`, TaskAligned from it."""

    neck_class = LCPAN
    head_class = PicoHeadV2

    def level_scores(self, outputs: HeadOutputs) -> list[paddle.Tensor]:
        cls_logits, _, align_logits = outputs
        # (an index loop: dy2static, used by the exports, cannot convert zip(..., strict=True))
        return [scores(cls_logits[i], align_logits[i]) for i in range(len(cls_logits))]

    def postprocess(
        self, outputs: NumpyOutputs, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """v2 does not clip to the image (`im_shape` unused) and has no per-level top-k (`nms_pre` ignored)."""
        from .postprocess import postprocess_logits

        del im_shape
        nms_options.pop("nms_pre", None)
        cls_logits, bbox_reg, align_logits = outputs
        return postprocess_logits(
            cls_logits, bbox_reg, align_logits, self.strides, self.reg_max, scale_factor, **nms_options
        )

    def losses(
        self, outputs: HeadOutputs, gt_bboxes: list[np.ndarray], gt_classes: list[np.ndarray], **options: object
    ) -> dict[str, paddle.Tensor]:
        """`epoch` and `static_assigner_epoch` (default 100) in `options` pick ATSS or TaskAligned."""
        from .loss import compute_losses

        cls_logits, bbox_reg, align_logits = outputs
        return compute_losses(
            cls_logits,
            bbox_reg,
            align_logits,
            gt_bboxes,
            gt_classes,
            strides=self.strides,
            reg_max=self.reg_max,
            num_classes=self.num_classes,
            **options,
        )
