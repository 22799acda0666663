"""MobileNetV3-large without extra blocks, as used by picodet_mobilenetv3_large_1x (spec §3.3)."""

from __future__ import annotations

from typing import NamedTuple

import paddle
from paddle import nn

from ...errors import PicodetError
from ..layers import BlockSequence, ConvBN, SEModule, get_act, make_divisible


class Row(NamedTuple):
    kernel: int
    expand: int
    out: int
    se: bool
    act: str
    stride: int


_HS = "hard_swish"
LARGE = (
    Row(3, 16, 16, False, "relu", 1),
    Row(3, 64, 24, False, "relu", 2),
    Row(3, 72, 24, False, "relu", 1),
    Row(5, 72, 40, True, "relu", 2),
    Row(5, 120, 40, True, "relu", 1),
    Row(5, 120, 40, True, "relu", 1),
    Row(3, 240, 80, False, _HS, 2),
    Row(3, 200, 80, False, _HS, 1),
    Row(3, 184, 80, False, _HS, 1),
    Row(3, 184, 80, False, _HS, 1),
    Row(3, 480, 112, True, _HS, 1),
    Row(3, 672, 112, True, _HS, 1),
    Row(5, 672, 160, True, _HS, 2),
    Row(5, 960, 160, True, _HS, 1),
    Row(5, 960, 160, True, _HS, 1),
)
# Blocks are named conv2..conv16; PicoDet takes conv7, conv13 and conv16 (strides 8, 16, 32).
LARGE_OUTPUTS = (7, 13, 16)


class ResidualUnit(nn.Layer):
    """Inverted residual: 1x1 expand -> kxk depthwise -> optional SE -> 1x1 linear (+ identity if shapes match)."""

    def __init__(self, in_ch: int, mid: int, out_ch: int, row: Row) -> None:
        super().__init__()
        act = get_act(row.act)
        self.expand_conv = ConvBN(in_ch, mid, 1, act=act)
        self.bottleneck_conv = ConvBN(mid, mid, row.kernel, stride=row.stride, groups=mid, act=act)
        self.mid_se = SEModule(mid, gate_slope=0.2) if row.se else None
        self.linear_conv = ConvBN(mid, out_ch, 1)
        self.shortcut = row.stride == 1 and in_ch == out_ch

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.mid_se is not None:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.shortcut else y


class MobileNetV3(BlockSequence):
    """MobileNetV3 ('large' only) with width `scale`; outputs strides 8/16/32."""

    def __init__(self, model_name: str = "large", scale: float = 1.0) -> None:
        super().__init__()
        if model_name != "large":
            raise PicodetError(f"MobileNetV3 '{model_name}' is not supported", "use model_name = 'large'")
        in_ch = make_divisible(16 * scale)
        self.conv1 = ConvBN(3, in_ch, 3, stride=2, act=get_act(_HS))
        self.out_channels = []
        for index, row in enumerate(LARGE, start=2):
            mid, out_ch = make_divisible(row.expand * scale), make_divisible(row.out * scale)
            is_output = index in LARGE_OUTPUTS
            self.add_block(f"conv{index}", ResidualUnit(in_ch, mid, out_ch, row), is_output)
            if is_output:
                self.out_channels.append(out_ch)
            in_ch = out_ch

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        return self.run_blocks(self.conv1(x))
