"""LCPAN, the v2 neck (spec §4): 1x1 channel maps, LCNet depthwise-separable fusion blocks, a stride-64 level."""

from __future__ import annotations

from collections.abc import Sequence

import paddle
from paddle import nn

from ..backbones.lcnet import DepthwiseSeparable
from ..layers import get_act
from ..neck import ChannelT, DPModule, upsample_to


def _fusion_block(channels: int, kernel: int) -> nn.Sequential:
    """Two LCNet depthwise-separable units (dw kxk, no SE, hard-swish): 2C -> 2C -> C."""
    return nn.Sequential(
        DepthwiseSeparable(2 * channels, 2 * channels, kernel, 1, False),
        DepthwiseSeparable(2 * channels, channels, kernel, 1, False),
    )


class LCPAN(nn.Layer):
    """Backbone features (strides 8/16/32) -> `out_channels` maps at strides 8/16/32/64 (P3..P6).

    Top-down: upsample x2 (nearest) and concatenate [upsampled, finer] before each fusion block; bottom-up:
    a stride-2 DPModule then [downsampled, top-down feature]; P6 = first_top_conv(c5) + second_top_conv(P5).
    Sub-layer names (and so the state dict) follow upstream's `LCPAN` with `num_features` 4.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        act = get_act("hard_swish")
        levels = len(in_channels)
        self.conv_t = ChannelT(list(in_channels), out_channels, act)
        self.first_top_conv = DPModule(out_channels, kernel_size, 2, act)
        self.second_top_conv = DPModule(out_channels, kernel_size, 2, act)
        self.top_down_blocks = nn.LayerList([_fusion_block(out_channels, kernel_size) for _ in range(levels - 1)])
        self.downsamples = nn.LayerList([DPModule(out_channels, kernel_size, 2, act) for _ in range(levels - 1)])
        self.bottom_up_blocks = nn.LayerList([_fusion_block(out_channels, kernel_size) for _ in range(levels - 1)])
        self.out_channels = [out_channels] * (levels + 1)
        self.upsample = upsample_to  # the Paddle export swaps in repeat_upsample_to (same values)

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        feats = self.conv_t(feats)
        # (index loops: dy2static cannot convert zip(..., strict=True))
        inner = [feats[-1]]
        for i, block in enumerate(self.top_down_blocks):
            low = feats[-2 - i]
            inner.insert(0, block(paddle.concat([self.upsample(inner[0], low), low], axis=1)))
        outs = [inner[0]]
        for i, block in enumerate(self.bottom_up_blocks):
            outs.append(block(paddle.concat([self.downsamples[i](outs[-1]), inner[i + 1]], axis=1)))
        outs.append(self.first_top_conv(feats[-1]) + self.second_top_conv(outs[-1]))
        return outs
