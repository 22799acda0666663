"""Export layout pass: ESNet's odd channel counts rounded up to a multiple of the SIMD width with zero channels.

CPU runtimes keep activations in blocked layouts (onnxruntime's NCHWc, oneDNN's nChw16c, ncnn's packN) only
where a conv's channel count is a multiple of the block (16 floats with AVX-512, 8 with AVX2, 4 on ARM NEON);
elsewhere they convert layouts before and after the conv. ESNet has such counts inside its blocks (the stem's
24, mid-channel halves of 44 or 60, squeeze-excitation widths of 11, 12 or 30). The pass pads them: added
channels have zero weights, zero batch-norm scale and shift, so they carry exact zeros (hard-swish(0) = 0; a
squeeze-excitation gate of 0.5 multiplies a zero channel) and every consumer ignores them with zero weights.
Block inputs and outputs keep their channels, so the model's outputs are unchanged up to summation order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from paddle import nn

SIMD_CHANNELS = 16


@dataclass(frozen=True)
class Layout:
    """Where each real channel of a tensor is stored (`positions`), among `total` stored channels."""

    positions: np.ndarray
    total: int

    @classmethod
    def plain(cls, channels: int) -> Layout:
        return cls(np.arange(channels), channels)

    @classmethod
    def padded(cls, channels: int, multiple: int) -> Layout:
        return cls(np.arange(channels), -(-channels // multiple) * multiple)

    def __add__(self, other: Layout) -> Layout:
        """The layout of the channel concatenation [self, other]."""
        return Layout(np.concatenate([self.positions, other.positions + self.total]), self.total + other.total)


def expand_conv(conv: nn.Conv2D, inputs: Layout, outputs: Layout) -> nn.Conv2D:
    """A plain Conv2D on `inputs`-laid-out channels giving `outputs`-laid-out channels; zeros elsewhere."""
    weight = conv.weight.numpy()
    depthwise = conv._groups > 1
    if depthwise and not (conv._groups == conv._in_channels == conv._out_channels):
        raise ValueError("only depthwise or dense convolutions can be padded")
    shape = [outputs.total, 1 if depthwise else inputs.total, *weight.shape[2:]]
    padded = np.zeros(shape, weight.dtype)
    if depthwise:
        padded[outputs.positions] = weight
    else:
        padded[np.ix_(outputs.positions, inputs.positions)] = weight
    new = nn.Conv2D(
        inputs.total, outputs.total, weight.shape[2:], conv._stride, conv._padding,
        groups=outputs.total if depthwise else 1, bias_attr=None if conv.bias is not None else False,
    )  # fmt: skip
    new.weight.set_value(padded)
    if conv.bias is not None:
        bias = np.zeros([outputs.total], weight.dtype)
        bias[outputs.positions] = conv.bias.numpy()
        new.bias.set_value(bias)
    return new


def expand_batch_norm(norm: nn.BatchNorm2D, layout: Layout) -> nn.BatchNorm2D:
    """The same normalisation on `layout`; added channels have scale 0, shift 0, mean 0, variance 1."""
    new = nn.BatchNorm2D(layout.total, momentum=norm._momentum, epsilon=norm._epsilon)
    for name, fill in (("weight", 0.0), ("bias", 0.0), ("_mean", 0.0), ("_variance", 1.0)):
        values = np.full([layout.total], fill, np.float32)
        values[layout.positions] = getattr(norm, name).numpy()
        getattr(new, name).set_value(values)
    return new


def pad_conv_bn(block: Any, inputs: Layout, outputs: Layout) -> None:
    """Re-lay a ConvBN (in place)."""
    conv_name, norm_name = block._names
    block.add_sublayer(conv_name, expand_conv(block._sub_layers[conv_name], inputs, outputs))
    block.add_sublayer(norm_name, expand_batch_norm(block._sub_layers[norm_name], outputs))


def pad_se(se: Any, layout: Layout, multiple: int) -> None:
    """Re-lay a squeeze-excitation module acting on `layout` (in place), padding its reduced width too."""
    reduced = Layout.padded(se.conv1._out_channels, multiple)
    se.conv1 = expand_conv(se.conv1, layout, reduced)
    se.conv2 = expand_conv(se.conv2, reduced, layout)


def pad_es_block(block: Any, multiple: int) -> None:
    """Stride-1 ESNet block: the pw / dw halves and the squeeze-excitation are padded; in and out unchanged."""
    half = Layout.plain(block._conv_pw._sub_layers["_conv"]._in_channels)
    mid = Layout.padded(block._conv_pw._sub_layers["_conv"]._out_channels, multiple)
    pad_conv_bn(block._conv_pw, half, mid)
    pad_conv_bn(block._conv_dw, mid, mid)
    pad_se(block._se, mid + mid, multiple)
    pad_conv_bn(block._conv_linear, mid + mid, Layout.plain(block._conv_linear._sub_layers["_conv"]._out_channels))


def pad_ds_block(block: Any, inputs: Layout | None, multiple: int) -> None:
    """Stride-2 ESNet block reading `inputs` (None: plain): its second branch's mid channels are padded."""
    inputs = inputs or Layout.plain(block._conv_dw_1._sub_layers["_conv"]._in_channels)
    half_out = Layout.plain(block._conv_linear_1._sub_layers["_conv"]._out_channels)
    mid = Layout.padded(block._conv_pw_2._sub_layers["_conv"]._out_channels, multiple)
    pad_conv_bn(block._conv_dw_1, inputs, inputs)
    pad_conv_bn(block._conv_linear_1, inputs, half_out)
    pad_conv_bn(block._conv_pw_2, inputs, mid)
    pad_conv_bn(block._conv_dw_2, mid, mid)
    pad_se(block._se, mid, multiple)
    pad_conv_bn(block._conv_linear_2, mid, half_out)


def pad_channels(model: Any, multiple: int = SIMD_CHANNELS) -> Any:
    """A copy of `model` with its ESNet backbone re-laid (see the module docstring); other backbones: `model`."""
    from ..models.backbones.esnet import DSBlock, ESBlock, ESNet

    if not isinstance(model.backbone, ESNet):
        return model
    padded = copy.deepcopy(model)
    backbone = padded.backbone
    stem = Layout.padded(backbone._conv1._sub_layers["_conv"]._out_channels, multiple)
    pad_conv_bn(backbone._conv1, Layout.plain(3), stem)
    inputs: Layout | None = stem  # the first stride-2 block reads the stem; the others a plain block output
    for name in backbone._blocks:
        block = backbone._sub_layers[name]
        if isinstance(block, DSBlock):
            pad_ds_block(block, inputs, multiple)
        elif isinstance(block, ESBlock):
            pad_es_block(block, multiple)
        inputs = None
    return padded
