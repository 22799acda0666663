"""The PicoDet v2 detector: LCNet -> LCPAN -> PicoHeadV2, with the same public API as the v1 `PicoDet`."""

from __future__ import annotations

import numpy as np
import paddle
from paddle import nn

from ..backbones import build_backbone
from ..spec import ArchSpec
from .head import PicoHeadV2, scores
from .neck import LCPAN


def _to_rows(x: paddle.Tensor) -> paddle.Tensor:
    """[N,C,H,W] -> [N,H*W,C] (row-major cells) with reshape + transpose only."""
    return paddle.transpose(paddle.reshape(x, [0, x.shape[1], -1]), [0, 2, 1])


class PicoDetV2(nn.Layer):
    """A PicoDet v2 network built from an ArchSpec; state-dict names match the official v2 checkpoints."""

    def __init__(self, arch: ArchSpec, num_classes: int = 80, input_size: int = 320) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.input_size = input_size
        self.strides = tuple(arch.strides)
        self.reg_max = arch.reg_max
        self.backbone = build_backbone(arch.backbone, **arch.backbone_args)
        self.neck = LCPAN(self.backbone.out_channels, arch.neck_channels, arch.kernel_size)
        self.head = PicoHeadV2(
            arch.head_channels,
            num_classes,
            self.strides,
            arch.head_convs,
            kernel_size=arch.kernel_size,
            reg_max=arch.reg_max,
        )

    def features(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """Backbone features (strides 8/16/32) and neck features (strides 8/16/32/64)."""
        feats = self.backbone(image)
        return feats, self.neck(feats)

    def head_outputs(
        self, image: paddle.Tensor
    ) -> tuple[list[paddle.Tensor], list[paddle.Tensor], list[paddle.Tensor]]:
        """Raw per-level class logits [N,C,H,W], box-distribution logits [N,4*(reg_max+1),H,W] and align logits
        [N,1,H,W]; the score of a class is sqrt(sigmoid(class logit) * sigmoid(align logit) + 1e-9)."""
        return self.head(self.neck(self.backbone(image)))

    def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        """Deploy layout (upstream's `_non_postprocess` export), 2 x levels tensors in this order:

        [scores_l0, ..., scores_l3, boxes_l0, ..., boxes_l3] where scores_l = the v2 score as [N, h*w, num_classes]
        and boxes_l = raw box-distribution logits as [N, h*w, 4*(reg_max+1)]; cells are row-major.
        """
        cls_logits, bbox_reg, align_logits = self.head_outputs(image)
        # (an index loop: dy2static, used by the exports, cannot convert zip(..., strict=True))
        levels = len(cls_logits)
        return [_to_rows(scores(cls_logits[i], align_logits[i])) for i in range(levels)] + [
            _to_rows(r) for r in bbox_reg
        ]

    @paddle.no_grad()
    def detect(
        self, image: paddle.Tensor | np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decoded, NMS-ed detections: `bbox` [M,6] rows (class, score, x1, y1, x2, y2) and `bbox_num` [N].

        `scale_factor` [N,2] is (scale_y, scale_x). v2 decodes every anchor and does not clip boxes to the image,
        so `im_shape` is not read (it is accepted for the common detector signature). `nms_options`:
        score_threshold, nms_threshold, nms_top_k, keep_top_k (a v1-only `nms_pre` is ignored).
        """
        from .postprocess import postprocess_logits

        del im_shape
        nms_options.pop("nms_pre", None)
        if not isinstance(image, paddle.Tensor):
            image = paddle.to_tensor(np.asarray(image, dtype=np.float32))
        cls_logits, bbox_reg, align_logits = self.head_outputs(image)
        return postprocess_logits(
            [c.numpy() for c in cls_logits],
            [r.numpy() for r in bbox_reg],
            [a.numpy() for a in align_logits],
            self.strides,
            self.reg_max,
            np.asarray(scale_factor, dtype=np.float32),
            **nms_options,
        )

    def compute_losses(
        self,
        image: paddle.Tensor,
        gt_bboxes: list[np.ndarray],
        gt_classes: list[np.ndarray],
        epoch: int = 0,
        **loss_options: object,
    ) -> dict[str, paddle.Tensor]:
        """Training losses (`loss_vfl`, `loss_bbox`, `loss_dfl`, `loss`) for a batch.

        `gt_bboxes` are per-image [G,4] boxes (x1, y1, x2, y2) in input pixels, `gt_classes` per-image [G] class
        ids. `epoch` picks the assigner: ATSS below `static_assigner_epoch` (a loss option, default 100),
        TaskAligned from it on. BN uses batch statistics when the model is in train mode.
        """
        from .loss import compute_losses

        cls_logits, bbox_reg, align_logits = self.head_outputs(image)
        return compute_losses(
            cls_logits,
            bbox_reg,
            align_logits,
            gt_bboxes,
            gt_classes,
            strides=self.strides,
            reg_max=self.reg_max,
            num_classes=self.num_classes,
            epoch=epoch,
            **loss_options,
        )
