"""FLOPs and parameter counts, reported the way the PicoDet README does.

Convention: FLOPs = 2 x multiply-accumulates (one multiply + one add) of every convolution (depthwise and
grouped included) and linear layer, for one image of the given size. Biases, BatchNorm, activations,
pooling, resizing and other element-wise work are not counted. Plain MACs give about half the published
numbers; 2 x MACs gives 0.70 / 1.19 / 2.42 G for S-320 / S-416 / M-416 (README: 0.73 / 1.24 / 2.50) and
8.67 G (160-ch L) or 8.45 G (seed-era 128-ch L) for L-640 (README 8.74). The README's tool evidently also
counted some element-wise work: its numbers are 1-4% above ours.
"""

from __future__ import annotations

import math

import paddle
from paddle import nn


def _conv_macs(layer: nn.Conv2D, output: paddle.Tensor) -> int:
    in_per_group = layer.weight.shape[1]
    return math.prod(output.shape[1:]) * in_per_group * math.prod(layer.weight.shape[2:])


def _linear_macs(layer: nn.Linear, output: paddle.Tensor) -> int:
    return math.prod(output.shape[1:]) * layer.weight.shape[0]


def count_flops(model: nn.Layer, input_size: int | tuple[int, int]) -> float:
    """GFLOPs (2 x multiply-accumulates of convs and linears, in 1e9) of one forward pass on a 3 x H x W image."""
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    total = 0

    def hook(layer: nn.Layer, inputs: tuple[paddle.Tensor, ...], output: paddle.Tensor) -> None:
        nonlocal total
        total += _conv_macs(layer, output) if isinstance(layer, nn.Conv2D) else _linear_macs(layer, output)

    handles = [
        layer.register_forward_post_hook(hook)
        for layer in model.sublayers()
        if isinstance(layer, (nn.Conv2D, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, 3, height, width], dtype="float32"))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return 2 * total / 1e9


def count_params(model: nn.Layer, trainable_only: bool = True) -> int:
    """Trainable parameters (as the README's Params column), or every state-dict entry incl. BN statistics."""
    if trainable_only:
        return sum(math.prod(p.shape) for p in model.parameters() if not p.stop_gradient)
    return sum(math.prod(t.shape) for t in model.state_dict().values())
