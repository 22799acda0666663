"""The PicoDet v1 detector: backbone -> CSP-PAN -> PicoHead."""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..defaults import DEFAULT_INPUT_SIZE, DEFAULT_NUM_CLASSES
from .backbones import build_backbone
from .head import PicoHead
from .neck import CSPPAN
from .spec import ArchSpec


def to_rows(x: paddle.Tensor) -> paddle.Tensor:
    """[N,C,H,W] -> [N,H*W,C] (row-major cells) with reshape + transpose only."""
    return paddle.transpose(paddle.reshape(x, [0, x.shape[1], -1]), [0, 2, 1])


class PicoDet(nn.Layer):
    """A PicoDet v1 network built from an ArchSpec; state-dict names match the official checkpoints."""

    def __init__(
        self, arch: ArchSpec, num_classes: int = DEFAULT_NUM_CLASSES, input_size: int = DEFAULT_INPUT_SIZE
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        self.input_size = input_size
        self.strides = tuple(arch.strides)
        self.reg_max = arch.reg_max
        self.backbone = build_backbone(arch.backbone, **arch.backbone_args)
        self.neck = CSPPAN(self.backbone.out_channels, arch.neck_channels, arch.kernel_size)
        self.head = PicoHead(
            arch.head_channels,
            num_classes,
            self.strides,
            arch.head_convs,
            kernel_size=arch.kernel_size,
            reg_max=arch.reg_max,
            share_cls_reg=arch.share_cls_reg,
        )

    def features(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """Backbone features (strides 8/16/32) and neck features (strides 8/16/32/64)."""
        feats = self.backbone(image)
        return feats, self.neck(feats)

    def head_outputs(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """Raw per-level class logits [N,C,H,W] and box-distribution logits [N,4*(reg_max+1),H,W]."""
        return self.head(self.neck(self.backbone(image)))

    def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        """Deploy layout (v1 export without post-processing), 2 x levels tensors in this order:

        [scores_l0, ..., scores_l3, boxes_l0, ..., boxes_l3] where scores_l = sigmoid(class logits) as
        [N, h*w, num_classes] and boxes_l = raw box-distribution logits as [N, h*w, 4*(reg_max+1)]
        (sides l, t, r, b with reg_max+1 bins each); cells are row-major. This is PaddleDetection's v1
        export order: deploy/python reads the first half as scores and the second half as boxes.
        """
        cls_logits, bbox_reg = self.head_outputs(image)
        return [to_rows(F.sigmoid(c)) for c in cls_logits] + [to_rows(r) for r in bbox_reg]

    @paddle.no_grad()
    def detect(
        self, image: paddle.Tensor | np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decoded, NMS-ed detections: `bbox` [M,6] rows (class, score, x1, y1, x2, y2) and `bbox_num` [N].

        `im_shape` [N,2] is the network input (h, w), `scale_factor` [N,2] is (scale_y, scale_x);
        `nms_options` go to postprocess_logits (score_threshold, nms_threshold, keep_top_k, ...).
        """
        from .postprocess import postprocess_logits

        if not isinstance(image, paddle.Tensor):
            image = paddle.to_tensor(np.asarray(image, dtype=np.float32))
        cls_logits, bbox_reg = self.head_outputs(image)
        return postprocess_logits(
            [c.numpy() for c in cls_logits],
            [r.numpy() for r in bbox_reg],
            self.strides,
            self.reg_max,
            np.asarray(im_shape, dtype=np.float32),
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

        `gt_bboxes` are per-image [G,4] boxes (x1, y1, x2, y2) in input pixels, `gt_classes` per-image [G]
        class ids; SimOTA assignment and the v1 loss weights as the original. BN uses batch statistics when
        the model is in train mode. `epoch` is part of every generation's signature; v1's SimOTA ignores it.
        """
        del epoch
        from ..losses import compute_losses

        cls_logits, bbox_reg = self.head_outputs(image)
        return compute_losses(
            cls_logits,
            bbox_reg,
            gt_bboxes,
            gt_classes,
            strides=self.strides,
            reg_max=self.reg_max,
            num_classes=self.num_classes,
            **loss_options,
        )
