"""PicoHeadV2 (spec §5.1): PicoFeat towers with an SE block, 1x1 class/box convs and the task-alignment branch.

Per level l: `cls_feat` = (5x5 depthwise ConvBN + hard-swish, 1x1 ConvBN + hard-swish) x num_convs on the FPN
map; `se_feat` = hard-swish(BN(conv1x1(cls_feat * sigmoid(fc(avgpool(cls_feat)))))); class logits and box
logits are 1x1 convs of `se_feat`; the align logit is a DPModule (dense 5x5 C->1 conv, BN, hard-swish, 1x1, BN)
of `cls_feat`. Scores are sqrt(sigmoid(cls) * sigmoid(align) + 1e-9) (see `scores`).
"""

from __future__ import annotations

import math

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.nn.initializer import KaimingUniform, Normal

from ..head import CLS_BIAS_INIT, INIT_STD, DistributionProject, ScaleReg, head_conv
from ..layers import Activation, ConvBN, TrainConv2D, conv2d, get_act

SCORE_EPS = 1e-9  # inside the square root of the v2 score
SE_FC_INIT_STD = 0.001


def scores(cls_logits: paddle.Tensor, align_logits: paddle.Tensor) -> paddle.Tensor:
    """The v2 class score sqrt(sigmoid(cls) * sigmoid(align) + 1e-9); the 1-channel align map broadcasts."""
    return paddle.sqrt(F.sigmoid(cls_logits) * F.sigmoid(align_logits) + SCORE_EPS)


def _tower_conv(channels: int, kernel: int, groups: int, act: Activation | None) -> ConvBN:
    return ConvBN(channels, channels, kernel, groups=groups, act=act, names=("conv", "norm"), init=Normal(0, INIT_STD))


class PicoSE(nn.Layer):
    """conv1x1+BN of `feat * sigmoid(fc(avg_feat))` (`fc` has a bias; the gate is a sigmoid, not a hard one)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2D(channels, channels, 1, weight_attr=paddle.ParamAttr(initializer=Normal(0, SE_FC_INIT_STD)))
        self.conv = _tower_conv(channels, 1, 1, act=None)

    def forward(self, feat: paddle.Tensor, avg_feat: paddle.Tensor) -> paddle.Tensor:
        return self.conv(feat * F.sigmoid(self.fc(avg_feat)))


class PicoFeatV2(nn.Layer):
    """Per-level depthwise towers (shared cls/reg) followed by a PicoSE block; returns (cls_feat, se_feat)."""

    def __init__(self, channels: int, levels: int, num_convs: int, kernel: int) -> None:
        super().__init__()
        self.act = get_act("hard_swish")
        self.se = nn.LayerList([PicoSE(channels) for _ in range(levels)])  # registered first, as upstream
        self._towers: list[list[str]] = []
        for level in range(levels):
            names = []
            for i in range(num_convs):
                for kind, k, groups in (("dw", kernel, channels), ("pw", 1, 1)):
                    name = f"cls_conv_{kind}{level}.{i}"
                    self.add_sublayer(name, _tower_conv(channels, k, groups, self.act))
                    names.append(name)
            self._towers.append(names)

    def forward(self, x: paddle.Tensor, level: int) -> tuple[paddle.Tensor, paddle.Tensor]:
        for name in self._towers[level]:
            x = self._sub_layers[name](x)
        se_feat = self.act(self.se[level](x, F.adaptive_avg_pool2d(x, 1)))
        return x, se_feat


class TapSumConv2D(TrainConv2D):
    """A dense kxk conv (stride 1, 'same' padding, no bias) with one output channel: the align branch's C->1 conv.

    Training forward: a 1x1 conv to the k*k tap maps, then the shifted tap maps summed. Same values up to the
    summation order, and about 7x faster forward + backward on a CPU than Paddle's convolution, which copies k*k*C
    patch rows per pixel for a single output channel. Eval and export: the plain convolution.
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training or not paddle.in_dynamic_mode():
            return nn.Conv2D.forward(self, x)  # not super(): dy2static (export) cannot convert it
        k, pad = self._kernel_size[0], self._padding
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        taps = self.weight.reshape([channels, k * k]).transpose([1, 0]).reshape([k * k, channels, 1, 1])
        z = F.pad(F.conv2d(x, taps), [pad, pad, pad, pad])
        out = z[:, 0:1, 0:height, 0:width]
        for t in range(1, k * k):
            i, j = divmod(t, k)
            out = out + z[:, t : t + 1, i : i + height, j : j + width]
        return out


def _align_conv(channels: int, kernel: int) -> TapSumConv2D:
    return TapSumConv2D(
        channels,
        1,
        kernel,
        padding=(kernel - 1) // 2,
        weight_attr=paddle.ParamAttr(initializer=KaimingUniform()),
        bias_attr=False,
    )


class AlignModule(nn.Layer):
    """The task-alignment branch (upstream DPModule(C, 1, 5, use_act_in_out=False)): dense kxk conv C->1 -> BN ->
    hard-swish -> 1x1 conv -> BN, no final activation (upstream's "dwconv" has groups = out channels = 1)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.dwconv = _align_conv(channels, kernel)
        self.bn1 = nn.BatchNorm2D(1)
        self.pwconv = conv2d(1, 1, 1, init=KaimingUniform())
        self.bn2 = nn.BatchNorm2D(1)
        self.act = get_act("hard_swish")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.bn2(self.pwconv(self.act(self.bn1(self.dwconv(x)))))


class PicoHeadV2(nn.Layer):
    """Raw per-level class logits [N,C,H,W], box-distribution logits [N,4*(reg_max+1),H,W], align logits [N,1,H,W].

    Box channels are side-major (channel = side * (reg_max+1) + bin, sides l, t, r, b). The unused `scale_reg`
    scalars and the `project` buffer are kept so the state dict equals the official checkpoints'.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        strides: tuple[int, ...],
        num_convs: int,
        kernel_size: int = 5,
        reg_max: int = 7,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_channels = 4 * (reg_max + 1)
        levels = len(strides)
        self.conv_feat = PicoFeatV2(in_channels, levels, num_convs, kernel_size)
        for stride in strides:
            self.add_sublayer(f"p{int(math.log2(stride))}_feat", ScaleReg())
        self.distribution_project = DistributionProject(reg_max)
        self.cls_align = nn.LayerList([AlignModule(in_channels, kernel_size) for _ in range(levels)])
        for level in range(levels):
            self.add_sublayer(f"head_cls{level}", head_conv(in_channels, num_classes, CLS_BIAS_INIT))
            self.add_sublayer(f"head_reg{level}", head_conv(in_channels, self.reg_channels, 0.0))

    def level_features(self, feat: paddle.Tensor, level: int) -> tuple[paddle.Tensor, paddle.Tensor]:
        """(cls_feat, se_feat) of one FPN level: the align branch reads the first, the 1x1 convs the second."""
        return self.conv_feat(feat, level)

    def forward(
        self, feats: list[paddle.Tensor]
    ) -> tuple[list[paddle.Tensor], list[paddle.Tensor], list[paddle.Tensor]]:
        cls_logits, bbox_reg, align_logits = [], [], []
        for level, feat in enumerate(feats):
            cls_feat, se_feat = self.conv_feat(feat, level)
            cls_logits.append(self._sub_layers[f"head_cls{level}"](se_feat))
            bbox_reg.append(self._sub_layers[f"head_reg{level}"](se_feat))
            align_logits.append(self.cls_align[level](cls_feat))
        return cls_logits, bbox_reg, align_logits
