"""PicoHead v1 (spec §5.1): per-level depthwise towers and 1x1 prediction convs (GFL-style box distributions)."""

from __future__ import annotations

import math

import paddle
from paddle import nn
from paddle.nn.initializer import Constant, Normal

from .layers import ConvBN, get_act

PRIOR_PROB = 0.01
CLS_BIAS_INIT = -math.log((1 - PRIOR_PROB) / PRIOR_PROB)  # ≈ -4.59512
INIT_STD = 0.01  # every head conv (towers and 1x1 predictors) starts N(0, 0.01)


def _tower_conv(channels: int, kernel: int, groups: int) -> ConvBN:
    return ConvBN(
        channels,
        channels,
        kernel,
        groups=groups,
        act=get_act("hard_swish"),
        names=("conv", "norm"),
        init=Normal(0, INIT_STD),
    )


def head_conv(in_ch: int, out_ch: int, bias: float) -> nn.Conv2D:
    """A 1x1 prediction conv: weight N(0, 0.01), constant bias."""
    return nn.Conv2D(
        in_ch,
        out_ch,
        1,
        weight_attr=paddle.ParamAttr(initializer=Normal(0, INIT_STD)),
        bias_attr=paddle.ParamAttr(initializer=Constant(bias)),
    )


class PicoFeat(nn.Layer):
    """Per-level towers of (5x5 depthwise ConvBN + hard-swish, 1x1 ConvBN + hard-swish) x num_convs.

    With `share_cls_reg` False an independent regression tower (`reg_conv_*`) runs on the same FPN feature.
    """

    def __init__(self, channels: int, levels: int, num_convs: int, kernel: int, share_cls_reg: bool) -> None:
        super().__init__()
        self.share_cls_reg = share_cls_reg
        self._towers: list[dict[str, list[str]]] = []
        branches = ("cls",) if share_cls_reg else ("cls", "reg")
        for level in range(levels):
            tower: dict[str, list[str]] = {b: [] for b in branches}
            for i in range(num_convs):
                for branch in branches:
                    for kind, k, groups in (("dw", kernel, channels), ("pw", 1, 1)):
                        name = f"{branch}_conv_{kind}{level}.{i}"
                        self.add_sublayer(name, _tower_conv(channels, k, groups))
                        tower[branch].append(name)
            self._towers.append(tower)

    def _run(self, x: paddle.Tensor, names: list[str]) -> paddle.Tensor:
        for name in names:
            x = self._sub_layers[name](x)
        return x

    def forward(self, x: paddle.Tensor, level: int) -> tuple[paddle.Tensor, paddle.Tensor]:
        tower = self._towers[level]
        cls_feat = self._run(x, tower["cls"])
        reg_feat = cls_feat if self.share_cls_reg else self._run(x, tower["reg"])
        return cls_feat, reg_feat


class ScaleReg(nn.Layer):
    """Holds the unused `scale_reg` scalar that v1 checkpoints carry (value 1.0, never used in forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale_reg = self.create_parameter([1], default_initializer=Constant(1.0))


class DistributionProject(nn.Layer):
    """Holds the `project` buffer [0, 1, ..., reg_max] that v1 checkpoints carry."""

    def __init__(self, reg_max: int) -> None:
        super().__init__()
        self.register_buffer("project", paddle.arange(reg_max + 1, dtype="float32"))


class PicoHead(nn.Layer):
    """Returns raw class logits [N,C,H,W] and box-distribution logits [N,4*(reg_max+1),H,W] per level."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        strides: tuple[int, ...],
        num_convs: int,
        kernel_size: int = 5,
        reg_max: int = 7,
        share_cls_reg: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_channels = 4 * (reg_max + 1)
        self.share_cls_reg = share_cls_reg
        self.conv_feat = PicoFeat(in_channels, len(strides), num_convs, kernel_size, share_cls_reg)
        for stride in strides:
            self.add_sublayer(f"p{int(math.log2(stride))}_feat", ScaleReg())
        self.distribution_project = DistributionProject(reg_max)
        cls_out = num_classes + self.reg_channels if share_cls_reg else num_classes
        for level in range(len(strides)):
            self.add_sublayer(f"head_cls{level}", head_conv(in_channels, cls_out, CLS_BIAS_INIT))
            if not share_cls_reg:
                self.add_sublayer(f"head_reg{level}", head_conv(in_channels, self.reg_channels, 0.0))

    def forward(self, feats: list[paddle.Tensor]) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        cls_logits, bbox_reg = [], []
        for level, feat in enumerate(feats):
            cls_feat, reg_feat = self.conv_feat(feat, level)
            out = self._sub_layers[f"head_cls{level}"](cls_feat)
            if self.share_cls_reg:
                cls, reg = paddle.split(out, [self.num_classes, self.reg_channels], axis=1)
            else:
                cls, reg = out, self._sub_layers[f"head_reg{level}"](reg_feat)
            cls_logits.append(cls)
            bbox_reg.append(reg)
        return cls_logits, bbox_reg
