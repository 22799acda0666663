"""ESNet (Enhanced ShuffleNet), the PicoDet S/M/L backbone (spec §3.1)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import paddle
from paddle import nn

from ...errors import PicodetError
from ..layers import BlockSequence, ConvBN, SEModule, get_act, make_divisible, max_pool2d, shuffle_concat

_ConvBN = partial(ConvBN, names=("_conv", "_batch_norm"))
STAGE_BLOCKS = (3, 7, 3)


class ESBlock(nn.Layer):
    """Stride-1 block: half the channels pass through, the other half goes pw -> dw -> SE -> linear; shuffle."""

    def __init__(self, channels: int, mid: int) -> None:
        super().__init__()
        act = get_act("hard_swish")
        self._conv_pw = _ConvBN(channels // 2, mid // 2, 1, act=act)
        self._conv_dw = _ConvBN(mid // 2, mid // 2, 3, groups=mid // 2)
        self._se = SEModule(mid)
        self._conv_linear = _ConvBN(mid, channels // 2, 1, act=act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x1, x2 = paddle.split(x, 2, axis=1)
        x2 = self._conv_pw(x2)
        x3 = paddle.concat([x2, self._conv_dw(x2)], axis=1)
        x3 = self._conv_linear(self._se(x3))
        return shuffle_concat([x1, x3])


class DSBlock(nn.Layer):
    """Stride-2 block: two downsampling branches, concatenated, then a dw + pw mix (no shuffle)."""

    def __init__(self, in_ch: int, mid: int, out_ch: int) -> None:
        super().__init__()
        act = get_act("hard_swish")
        self._conv_dw_1 = _ConvBN(in_ch, in_ch, 3, stride=2, groups=in_ch)
        self._conv_linear_1 = _ConvBN(in_ch, out_ch // 2, 1, act=act)
        self._conv_pw_2 = _ConvBN(in_ch, mid // 2, 1, act=act)
        self._conv_dw_2 = _ConvBN(mid // 2, mid // 2, 3, stride=2, groups=mid // 2)
        self._se = SEModule(mid // 2)
        self._conv_linear_2 = _ConvBN(mid // 2, out_ch // 2, 1, act=act)
        self._conv_dw_mv1 = _ConvBN(out_ch, out_ch, 3, groups=out_ch, act=act)
        self._conv_pw_mv1 = _ConvBN(out_ch, out_ch, 1, act=act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x1 = self._conv_linear_1(self._conv_dw_1(x))
        x2 = self._conv_linear_2(self._se(self._conv_dw_2(self._conv_pw_2(x))))
        return self._conv_pw_mv1(self._conv_dw_mv1(paddle.concat([x1, x2], axis=1)))


class ESNet(BlockSequence):
    """ESNet with width `scale` and one mid-channel ratio per block (13 blocks); outputs strides 8/16/32."""

    def __init__(self, scale: float = 1.0, channel_ratio: Sequence[float] = (1.0,) * 13) -> None:
        super().__init__()
        if len(channel_ratio) != sum(STAGE_BLOCKS):
            raise PicodetError(
                f"ESNet needs {sum(STAGE_BLOCKS)} channel_ratio values, got {len(channel_ratio)}",
                "fix the architecture's backbone_args",
            )
        stage_out = [24] + [make_divisible(c * scale, 16) for c in (128, 256, 512)]
        self._conv1 = _ConvBN(3, stage_out[0], 3, stride=2, act=get_act("hard_swish"))
        ratios = iter(channel_ratio)
        for stage, num_blocks in enumerate(STAGE_BLOCKS):
            out_ch = stage_out[stage + 1]
            for i in range(num_blocks):
                mid = make_divisible(int(out_ch * next(ratios)), 8)
                block = DSBlock(stage_out[stage], mid, out_ch) if i == 0 else ESBlock(out_ch, mid)
                self.add_block(f"{stage + 2}_{i + 1}", block, is_output=i == num_blocks - 1)
        self.out_channels = stage_out[1:]

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        return self.run_blocks(max_pool2d(self._conv1(x), 3, 2, 1))
