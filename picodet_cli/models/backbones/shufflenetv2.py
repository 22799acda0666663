"""ShuffleNetV2 without the final 1x1 conv, as used by picodet_shufflenetv2_1x (spec §3.2)."""

from __future__ import annotations

from functools import partial

import paddle
from paddle import nn

from ...errors import PicodetError
from ..layers import Activation, BlockSequence, ConvBN, get_act, max_pool2d, shuffle_concat

_ConvBN = partial(ConvBN, names=("_conv", "_batch_norm"))
STAGE_BLOCKS = (4, 8, 4)
STAGE_CHANNELS = {
    0.25: (24, 48, 96),
    0.33: (32, 64, 128),
    0.5: (48, 96, 192),
    1.0: (116, 232, 464),
    1.5: (176, 352, 704),
    2.0: (224, 488, 976),
}


class ShuffleBlock(nn.Layer):
    """Stride-1 unit: half the channels pass through, the other half goes pw -> dw -> linear; shuffle."""

    def __init__(self, channels: int, act: Activation) -> None:
        super().__init__()
        half = channels // 2
        self._conv_pw = _ConvBN(half, half, 1, act=act)
        self._conv_dw = _ConvBN(half, half, 3, groups=half)
        self._conv_linear = _ConvBN(half, half, 1, act=act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x1, x2 = paddle.split(x, 2, axis=1)
        x2 = self._conv_linear(self._conv_dw(self._conv_pw(x2)))
        return shuffle_concat([x1, x2])


class ShuffleDSBlock(nn.Layer):
    """Stride-2 unit: two downsampling branches, concatenated and shuffled."""

    def __init__(self, in_ch: int, out_ch: int, act: Activation) -> None:
        super().__init__()
        half = out_ch // 2
        self._conv_dw_1 = _ConvBN(in_ch, in_ch, 3, stride=2, groups=in_ch)
        self._conv_linear_1 = _ConvBN(in_ch, half, 1, act=act)
        self._conv_pw_2 = _ConvBN(in_ch, half, 1, act=act)
        self._conv_dw_2 = _ConvBN(half, half, 3, stride=2, groups=half)
        self._conv_linear_2 = _ConvBN(half, half, 1, act=act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x1 = self._conv_linear_1(self._conv_dw_1(x))
        x2 = self._conv_linear_2(self._conv_dw_2(self._conv_pw_2(x)))
        return shuffle_concat([x1, x2])


class ShuffleNetV2(BlockSequence):
    """ShuffleNetV2 (stages of 4/8/4 units); outputs the three stage ends (strides 8/16/32).

    `leaky_slope` defaults to 0.02, not the usual 0.01: the code that trained the released checkpoint
    (PaddleDetection <= Dec 2021) fused the activation into the old fluid BatchNorm op, whose leaky_relu
    default negative slope is 0.02. Pass 0.01 to mimic current upstream code.
    """

    def __init__(self, scale: float = 1.0, act: str = "leaky_relu", leaky_slope: float = 0.02) -> None:
        super().__init__()
        if scale not in STAGE_CHANNELS:
            raise PicodetError(f"ShuffleNetV2 has no scale {scale}", f"one of: {', '.join(map(str, STAGE_CHANNELS))}")
        activation = get_act(act, leaky_slope if act == "leaky_relu" else None)
        self._conv1 = _ConvBN(3, 24, 3, stride=2, act=activation)
        in_ch = 24
        for stage, (num_blocks, out_ch) in enumerate(zip(STAGE_BLOCKS, STAGE_CHANNELS[scale], strict=True)):
            for i in range(num_blocks):
                block = ShuffleDSBlock(in_ch, out_ch, activation) if i == 0 else ShuffleBlock(out_ch, activation)
                self.add_block(f"{stage + 2}_{i + 1}", block, is_output=i == num_blocks - 1)
            in_ch = out_ch
        self.out_channels = list(STAGE_CHANNELS[scale])

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        return self.run_blocks(max_pool2d(self._conv1(x), 3, 2, 1))
