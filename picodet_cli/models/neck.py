"""CSP-PAN neck of PicoDet v1 (spec §4): depthwise CSP blocks, top-down + bottom-up paths, one extra level."""

from __future__ import annotations

from collections.abc import Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.nn.initializer import KaimingUniform

from .. import kernels
from .layers import Activation, ConvBN, conv2d, get_act, trains_on_kernels


class DPModule(nn.Layer):
    """kxk depthwise conv (stride s) -> BN -> act -> 1x1 conv -> BN -> act."""

    def __init__(self, channels: int, kernel: int, stride: int, act: Activation) -> None:
        super().__init__()
        self.dwconv = conv2d(channels, channels, kernel, stride, groups=channels, init=KaimingUniform())
        self.bn1 = nn.BatchNorm2D(channels)
        self.pwconv = conv2d(channels, channels, 1, init=KaimingUniform())
        self.bn2 = nn.BatchNorm2D(channels)
        self.act = act

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.act(self.bn1(self.dwconv(x)))
        return self.act(self.bn2(self.pwconv(x)))


def _conv_bn(in_ch: int, out_ch: int, act: Activation) -> ConvBN:
    return ConvBN(in_ch, out_ch, 1, act=act, init=KaimingUniform())


class DarknetBottleneck(nn.Layer):
    """1x1 ConvBN then a depthwise DPModule; no residual (add_identity is off in PicoDet)."""

    def __init__(self, channels: int, kernel: int, act: Activation) -> None:
        super().__init__()
        self.conv1 = _conv_bn(channels, channels, act)
        self.conv2 = DPModule(channels, kernel, 1, act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.conv2(self.conv1(x))


class CSPLayer(nn.Layer):
    """Cross-stage-partial block: main (1x1 + bottleneck) and short (1x1) branches, fused by a 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, act: Activation) -> None:
        super().__init__()
        mid = out_ch // 2
        self.main_conv = _conv_bn(in_ch, mid, act)
        self.short_conv = _conv_bn(in_ch, mid, act)
        self.final_conv = _conv_bn(2 * mid, out_ch, act)
        self.blocks = nn.Sequential(DarknetBottleneck(mid, kernel, act))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        main = self.blocks(self.main_conv(x))
        return self.final_conv(paddle.concat([main, self.short_conv(x)], axis=1))


class ChannelT(nn.Layer):
    """1x1 ConvBN per input level, bringing every level to the neck width."""

    def __init__(self, in_channels: Sequence[int], out_ch: int, act: Activation) -> None:
        super().__init__()
        self.convs = nn.LayerList([_conv_bn(c, out_ch, act) for c in in_channels])

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        return [self.convs[i](feat) for i, feat in enumerate(feats)]


def upsample_to(x: paddle.Tensor, like: paddle.Tensor) -> paddle.Tensor:
    """Nearest upsampling of `x` to `like`'s size (explicit size: paddle2onnx 2.1.0 cannot convert scale_factor)."""
    return F.interpolate(x, size=like.shape[2:], mode="nearest")


def repeat_upsample_to(x: paddle.Tensor, like: paddle.Tensor) -> paddle.Tensor:
    """`upsample_to` without an interpolation op when the size doubles: every pixel repeated 2x2 by reshape +
    expand (identical values; lets Paddle Inference keep every op on oneDNN, see runtimes/paddle.py). In CPU
    training picodet's kernel: the same values and gradients, without Paddle's slow gradient of expand."""
    n, c, h, w = x.shape
    height, width = like.shape[2:]
    if (height, width) != (2 * h, 2 * w):
        return upsample_to(x, like)
    if trains_on_kernels(x):
        return kernels.upsample2x(x)
    return x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, height, width])


class PAN(nn.Layer):
    """The path aggregation both generations share: backbone features (strides 8/16/32) -> `out_channels` maps at
    strides 8/16/32/64. Top-down: upsample x2 (nearest), concatenate [upsampled, finer], fuse; bottom-up: a
    stride-2 DPModule, concatenate [downsampled, top-down feature], fuse; the extra level is
    first_top_conv(c5) + second_top_conv(P5). Subclasses give the fusion block (`fusion_block`)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        act = get_act("hard_swish")
        levels = len(in_channels)
        self.conv_t = ChannelT(list(in_channels), out_channels, act)
        self.first_top_conv = DPModule(out_channels, kernel_size, 2, act)
        self.second_top_conv = DPModule(out_channels, kernel_size, 2, act)
        self.top_down_blocks = nn.LayerList(
            [self.fusion_block(out_channels, kernel_size, act) for _ in range(levels - 1)]
        )
        self.downsamples = nn.LayerList([DPModule(out_channels, kernel_size, 2, act) for _ in range(levels - 1)])
        self.bottom_up_blocks = nn.LayerList(
            [self.fusion_block(out_channels, kernel_size, act) for _ in range(levels - 1)]
        )
        self.out_channels = [out_channels] * (levels + 1)
        self.upsample = upsample_to  # the Paddle export swaps in repeat_upsample_to (same values)

    @staticmethod
    def fusion_block(channels: int, kernel: int, act: Activation) -> nn.Layer:
        """2C concatenated channels -> C."""
        raise NotImplementedError

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        feats = self.conv_t(feats)
        # (dy2static cannot convert zip(..., strict=True), hence the index loops)
        # top-down: from the coarsest level, upsample and fuse with the next finer one
        inner = [feats[-1]]
        upsample = repeat_upsample_to if self.training else self.upsample  # training: the faster CPU gradient
        for i, block in enumerate(self.top_down_blocks):
            low = feats[-2 - i]
            inner.insert(0, block(paddle.concat([upsample(inner[0], low), low], axis=1)))
        # bottom-up: from the finest level, downsample and fuse with the next coarser one
        outs = [inner[0]]
        for i, block in enumerate(self.bottom_up_blocks):
            outs.append(block(paddle.concat([self.downsamples[i](outs[-1]), inner[i + 1]], axis=1)))
        outs.append(self.first_top_conv(feats[-1]) + self.second_top_conv(outs[-1]))
        return outs


class CSPPAN(PAN):
    """v1's CSP-PAN: the fusion blocks are depthwise CSP layers."""

    @staticmethod
    def fusion_block(channels: int, kernel: int, act: Activation) -> nn.Layer:
        return CSPLayer(2 * channels, channels, kernel, act)
