"""LCPAN, the v2 neck (spec §4): v1's path aggregation with LCNet depthwise-separable fusion blocks."""

from __future__ import annotations

from paddle import nn

from ..backbones.lcnet import DepthwiseSeparable
from ..layers import Activation
from ..neck import PAN


class LCPAN(PAN):
    """Backbone features (strides 8/16/32) -> `out_channels` maps at strides 8/16/32/64 (P3..P6).

    The fusion blocks are two LCNet depthwise-separable units (dw kxk, no SE, hard-swish): 2C -> 2C -> C.
    Sub-layer names (and so the state dict) follow upstream's `LCPAN` with `num_features` 4.
    """

    @staticmethod
    def fusion_block(channels: int, kernel: int, act: Activation) -> nn.Layer:
        del act  # DepthwiseSeparable is hard-swish, as upstream
        return nn.Sequential(
            DepthwiseSeparable(2 * channels, 2 * channels, kernel, 1, False),
            DepthwiseSeparable(2 * channels, channels, kernel, 1, False),
        )
