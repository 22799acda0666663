"""The detectors: `Detector` (what every generation shares) and the PicoDet v1 network on it.

A generation's network subclasses `Detector` and gives its neck, head, per-level deploy scores, post-processing
and losses; `features`, `head_outputs`, the deploy-layout `forward`, `detect` and `compute_losses` are common.
"""

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

HeadOutputs = tuple[list[paddle.Tensor], ...]  # per level: class logits, box logits (v2: + align logits)
NumpyOutputs = list[list[np.ndarray]]


def _to_rows(x: paddle.Tensor) -> paddle.Tensor:
    """[N,C,H,W] -> [N,H*W,C] (row-major cells) with reshape + transpose only."""
    return paddle.transpose(paddle.reshape(x, [0, x.shape[1], -1]), [0, 2, 1])


class Detector(nn.Layer):
    """Backbone -> neck -> head built from an ArchSpec; state-dict names match the generation's checkpoints."""

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
        self.neck = self.neck_class(self.backbone.out_channels, arch.neck_channels, arch.kernel_size)
        self.head = self.head_class(
            arch.head_channels,
            num_classes,
            self.strides,
            arch.head_convs,
            kernel_size=arch.kernel_size,
            reg_max=arch.reg_max,
            **self.head_options(arch),
        )

    # -- what a generation gives -------------------------------------------------------------------------------
    neck_class: type[nn.Layer]  # (in_channels, out_channels, kernel_size)
    head_class: type[nn.Layer]  # (channels, num_classes, strides, num_convs, kernel_size=, reg_max=, **options)

    def head_options(self, arch: ArchSpec) -> dict[str, object]:
        """Head arguments only this generation has."""
        return {}

    def level_scores(self, outputs: HeadOutputs) -> list[paddle.Tensor]:
        """Per-level class scores [N,C,H,W] of the deploy layout."""
        raise NotImplementedError

    def postprocess(
        self, outputs: NumpyOutputs, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def losses(
        self, outputs: HeadOutputs, gt_bboxes: list[np.ndarray], gt_classes: list[np.ndarray], **options: object
    ) -> dict[str, paddle.Tensor]:
        raise NotImplementedError

    # -- common API --------------------------------------------------------------------------------------------
    def features(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """Backbone features (strides 8/16/32) and neck features (strides 8/16/32/64)."""
        feats = self.backbone(image)
        return feats, self.neck(feats)

    def head_outputs(self, image: paddle.Tensor) -> HeadOutputs:
        """Raw per-level class logits [N,C,H,W], box-distribution logits [N,4*(reg_max+1),H,W] (v2: and align
        logits [N,1,H,W])."""
        return self.head(self.neck(self.backbone(image)))

    def forward(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        """Deploy layout (upstream's export without post-processing), 2 x levels tensors in this order:

        [scores_l0, ..., scores_l3, boxes_l0, ..., boxes_l3] where scores_l = the generation's class scores as
        [N, h*w, num_classes] (v1: sigmoid; v2: the sqrt task-aligned score) and boxes_l = raw box-distribution
        logits as [N, h*w, 4*(reg_max+1)] (sides l, t, r, b with reg_max+1 bins each); cells are row-major.
        deploy/python reads the first half as scores and the second half as boxes.
        """
        outputs = self.head_outputs(image)
        return [_to_rows(s) for s in self.level_scores(outputs)] + [_to_rows(r) for r in outputs[1]]

    @paddle.no_grad()
    def detect(
        self, image: paddle.Tensor | np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decoded, NMS-ed detections: `bbox` [M,6] rows (class, score, x1, y1, x2, y2) and `bbox_num` [N].

        `im_shape` [N,2] is the network input (h, w), `scale_factor` [N,2] is (scale_y, scale_x);
        `nms_options`: score_threshold, nms_threshold, nms_top_k, keep_top_k (v1 also nms_pre).
        """
        if not isinstance(image, paddle.Tensor):
            image = paddle.to_tensor(np.asarray(image, dtype=np.float32))
        outputs = [[t.numpy() for t in group] for group in self.head_outputs(image)]
        im_shape = np.asarray(im_shape, dtype=np.float32)
        return self.postprocess(outputs, im_shape, np.asarray(scale_factor, dtype=np.float32), **nms_options)

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
        class ids. `epoch` (and the `static_assigner_epoch` option) choose v2's assigner; v1's SimOTA ignores
        them. BN uses batch statistics when the model is in train mode.
        """
        return self.losses(self.head_outputs(image), gt_bboxes, gt_classes, epoch=epoch, **loss_options)


class PicoDet(Detector):
    """PicoDet v1: backbone -> CSP-PAN -> PicoHead, sigmoid scores, SimOTA assignment."""

    neck_class = CSPPAN
    head_class = PicoHead

    def head_options(self, arch: ArchSpec) -> dict[str, object]:
        return {"share_cls_reg": arch.share_cls_reg}

    def level_scores(self, outputs: HeadOutputs) -> list[paddle.Tensor]:
        return [F.sigmoid(c) for c in outputs[0]]

    def postprocess(
        self, outputs: NumpyOutputs, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        from .postprocess import postprocess_logits

        cls_logits, bbox_reg = outputs
        return postprocess_logits(
            cls_logits, bbox_reg, self.strides, self.reg_max, im_shape, scale_factor, **nms_options
        )

    def losses(
        self,
        outputs: HeadOutputs,
        gt_bboxes: list[np.ndarray],
        gt_classes: list[np.ndarray],
        epoch: int = 0,
        static_assigner_epoch: int = 0,
        **loss_options: object,
    ) -> dict[str, paddle.Tensor]:
        from ..losses import compute_losses

        del epoch, static_assigner_epoch  # SimOTA has one phase
        cls_logits, bbox_reg = outputs
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
