"""Building blocks shared by the backbones, the neck and the head.

Everything here is export-friendly: activations are plain tensor expressions, channel shuffle uses 4-D
reshape/concat only (no `flatten`, no 5-D tensors, which ncnn and some ONNX tools cannot handle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.nn.initializer import Initializer, KaimingNormal

from .. import kernels
from ..errors import PicodetError

Activation = Callable[[paddle.Tensor], paddle.Tensor]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round `value` to a multiple of `divisor`, never going more than 10% below it."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _identity(x: paddle.Tensor) -> paddle.Tensor:
    return x


def trains_on_kernels(x: paddle.Tensor) -> bool:
    """Whether an op on `x` should take picodet's CPU training kernels: active, eager, and a gradient needed."""
    return kernels.active() and not x.stop_gradient and paddle.in_dynamic_mode()


def _hard_swish(x: paddle.Tensor) -> paddle.Tensor:
    if trains_on_kernels(x):
        return kernels.hardswish(x)  # training on a CPU: same values, faster gradient
    return F.hardswish(x)


def _leaky_relu(x: paddle.Tensor, slope: float) -> paddle.Tensor:
    # max(x, a·x) equals leaky ReLU for 0 <= a < 1; paddle2onnx 2.1.0 writes LeakyRelu's alpha wrongly.
    return paddle.maximum(x, x * slope)


def _hard_sigmoid(x: paddle.Tensor, slope: float) -> paddle.Tensor:
    return F.hardsigmoid(x, slope=slope, offset=0.5)


_ACTS: dict[str, Callable[..., paddle.Tensor]] = {
    "hard_swish": _hard_swish,
    "relu": F.relu,
    "leaky_relu": _leaky_relu,
    "hard_sigmoid": _hard_sigmoid,
}
# the activations picodet's fused batch-norm kernel applies itself
_FUSED_ACT = {
    _identity: kernels.ACT_CODES["identity"],
    _hard_swish: kernels.ACT_CODES["hard_swish"],
    F.relu: kernels.ACT_CODES["relu"],
}
# Paddle's hardsigmoid default slope, written 0.1666667 rather than 1/6: the checkpoints were trained with it,
# and exactly 1/6 already moves the golden FPN features by up to 2e-4.
HARD_SIGMOID_SLOPE = 0.1666667
_SLOPE_DEFAULTS = {"leaky_relu": 0.01, "hard_sigmoid": HARD_SIGMOID_SLOPE}


def get_act(name: str | None, slope: float | None = None) -> Activation:
    """Activation by name: hard_swish, relu, leaky_relu (`slope`), hard_sigmoid (`slope`, offset 0.5), None."""
    if name is None:
        return _identity
    if name not in _ACTS:
        raise PicodetError(f"unknown activation '{name}'", f"one of: {', '.join(_ACTS)}")
    if name in _SLOPE_DEFAULTS:
        return partial(_ACTS[name], slope=_SLOPE_DEFAULTS[name] if slope is None else slope)
    return _ACTS[name]


def max_pool2d(x: paddle.Tensor, kernel: int, stride: int, padding: int) -> paddle.Tensor:
    """Max pooling; in CPU training picodet's kernel (same values, a faster gradient)."""
    if trains_on_kernels(x):
        return kernels.max_pool2d(x, kernel, stride, padding)
    return F.max_pool2d(x, kernel_size=kernel, stride=stride, padding=padding)


def shuffle_concat(parts: Sequence[paddle.Tensor]) -> paddle.Tensor:
    """`channel_shuffle(concat(parts, axis=1), len(parts))` for equally wide parts, in one copy.

    Each part goes to [N,C,1,HW] (a free reshape), the parts are concatenated on axis 2 and read back as
    [N,g*C,H,W], so channel i of part k lands at i*g + k. Same values as reshape/transpose/reshape, without the
    strided copy that the transpose costs Paddle's CPU kernels (forward and backward).
    """
    _, channels, height, width = parts[0].shape
    rows = [paddle.reshape(p, [0, channels, 1, height * width]) for p in parts]
    return paddle.reshape(paddle.concat(rows, axis=2), [0, channels * len(parts), height, width])


def channel_shuffle(x: paddle.Tensor, groups: int) -> paddle.Tensor:
    """ShuffleNet channel shuffle: [N,g,C/g,HW] -> swap axes 1,2 -> [N,C,H,W] (see `shuffle_concat`)."""
    return shuffle_concat(paddle.split(x, groups, axis=1))


class TrainConv2D(nn.Conv2D):
    """A conv whose training forward takes faster CPU paths with the same results; eval and export: the plain conv.

    - depthwise (one group per channel, no bias) while `kernels.active()`: picodet's C++ kernel, whose backward
      is several times faster than Paddle's on a CPU;
    - otherwise 'same' padding >= 2 at stride 1: pad first, then an unpadded conv. Paddle's CPU convolution
      copies patches (im2col) on a fast path only for padding 0 or 1; `pad` + unpadded conv gives identical
      outputs and gradients, about 1.5x faster forward + backward for the 5x5 depthwise convs.
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training:
            return nn.Conv2D.forward(self, x)  # not super(): dy2static (export) cannot convert it
        depthwise = self.bias is None and self._groups == self._in_channels == self._out_channels
        if depthwise and kernels.active():
            return kernels.depthwise_conv2d(x, self.weight, self._stride[0], self._padding)
        p = self._padding
        if p >= 2 and self._stride[0] == 1:
            return F.conv2d(F.pad(x, [0, 0, 0, 0, p, p, p, p]), self.weight, self.bias, groups=self._groups)
        return nn.Conv2D.forward(self, x)


def conv2d(
    in_ch: int,
    out_ch: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    init: Initializer | None = None,
    bias: bool = False,
) -> nn.Conv2D:
    """Conv with 'same' padding (k-1)//2; Kaiming-normal weights unless `init` says otherwise."""
    return TrainConv2D(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=(kernel - 1) // 2,
        groups=groups,
        weight_attr=paddle.ParamAttr(initializer=init or KaimingNormal()),
        bias_attr=None if bias else False,
    )


class ConvBN(nn.Layer):
    """Conv (no bias) -> BatchNorm -> activation.

    `names` are the conv and norm sublayer names, which differ per checkpoint family:
    ("_conv", "_batch_norm") for ESNet/ShuffleNetV2, ("conv", "bn") for MobileNetV3/LCNet/CSP-PAN,
    ("conv", "norm") for the PicoHead towers.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        act: Activation | None = None,
        names: tuple[str, str] = ("conv", "bn"),
        init: Initializer | None = None,
    ) -> None:
        super().__init__()
        self._names = names
        self.add_sublayer(names[0], conv2d(in_ch, out_ch, kernel, stride, groups, init))
        self.add_sublayer(names[1], nn.BatchNorm2D(out_ch))
        self.act = act or _identity

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._sub_layers[self._names[0]](x)
        norm = self._sub_layers[self._names[1]]
        fused = _FUSED_ACT.get(self.act)
        plain = isinstance(norm, nn.BatchNorm2D)  # not wrapped (QAT wraps it to observe its output)
        if fused is not None and plain and norm.training and kernels.active() and paddle.in_dynamic_mode():
            return kernels.batch_norm_act(x, norm, fused)  # training on a CPU: same values, one pass less
        return self.act(norm(x))


class SEModule(nn.Layer):
    """Squeeze-excitation: avg-pool -> conv1 (C->C/4, bias) -> ReLU -> conv2 -> hard-sigmoid -> scale input."""

    def __init__(self, channels: int, gate_slope: float = HARD_SIGMOID_SLOPE) -> None:
        super().__init__()
        self.conv1 = conv2d(channels, channels // 4, 1, bias=True)
        self.conv2 = conv2d(channels // 4, channels, 1, bias=True)
        self.gate = get_act("hard_sigmoid", gate_slope)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        w = self.gate(self.conv2(F.relu(self.conv1(w))))
        return x * w


class BlockSequence(nn.Layer):
    """Base for backbones: named blocks run in order, the outputs of the marked ones are returned."""

    def __init__(self) -> None:
        super().__init__()
        self._blocks: list[str] = []
        self._outputs: list[str] = []

    def add_block(self, name: str, block: nn.Layer, is_output: bool = False) -> None:
        self.add_sublayer(name, block)
        self._blocks.append(name)
        if is_output:
            self._outputs.append(name)

    def run_blocks(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        outs = []
        for name in self._blocks:
            x = self._sub_layers[name](x)
            if name in self._outputs:
                outs.append(x)
        return outs
