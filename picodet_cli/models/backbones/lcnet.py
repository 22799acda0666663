"""PP-LCNet, as used by picodet_lcnet_1_5x (spec §3.4)."""

from __future__ import annotations

import paddle
from paddle import nn

from ..layers import BlockSequence, ConvBN, SEModule, get_act, make_divisible

# Per stage: (kernel, in, out, stride, SE) at scale 1.0; stages are named blocks2..blocks6.
STAGES = (
    ((3, 16, 32, 1, False),),
    ((3, 32, 64, 2, False), (3, 64, 64, 1, False)),
    ((3, 64, 128, 2, False), (3, 128, 128, 1, False)),
    ((3, 128, 256, 2, False),) + ((5, 256, 256, 1, False),) * 5,
    ((5, 256, 512, 2, True), (5, 512, 512, 1, True)),
)
OUTPUT_STAGES = ("blocks4", "blocks5", "blocks6")


class DepthwiseSeparable(nn.Layer):
    """kxk depthwise ConvBN + hard-swish -> optional SE -> 1x1 ConvBN + hard-swish."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, use_se: bool) -> None:
        super().__init__()
        act = get_act("hard_swish")
        self.dw_conv = ConvBN(in_ch, in_ch, kernel, stride=stride, groups=in_ch, act=act)
        self.se = SEModule(in_ch) if use_se else None
        self.pw_conv = ConvBN(in_ch, out_ch, 1, act=act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw_conv(x)


class LCNet(BlockSequence):
    """PP-LCNet with width `scale` (channels rounded to multiples of 8); outputs strides 8/16/32."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, make_divisible(16 * scale), 3, stride=2, act=get_act("hard_swish"))
        self.out_channels = []
        for index, units in enumerate(STAGES, start=2):
            name = f"blocks{index}"
            stage = nn.Sequential(
                *(
                    DepthwiseSeparable(make_divisible(cin * scale), make_divisible(cout * scale), k, s, se)
                    for k, cin, cout, s, se in units
                )
            )
            self.add_block(name, stage, is_output=name in OUTPUT_STAGES)
            if name in OUTPUT_STAGES:
                self.out_channels.append(make_divisible(units[-1][2] * scale))

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        return self.run_blocks(self.conv1(x))
