"""The export layout pass: ESNet channels padded to the SIMD width, outputs unchanged."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from picodet_cli.export.deploy_graph import build_export_layer
from picodet_cli.export.layout import Layout, pad_channels
from picodet_cli.models.registry import build_model


def with_random_statistics(model):
    """Batch-norm statistics and shifts away from their init values, so padded channels that leaked would show."""
    rng = np.random.default_rng(0)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            n = layer._mean.shape[0]
            layer._mean.set_value(rng.normal(0, 0.1, n).astype(np.float32))
            layer._variance.set_value(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.bias.set_value(rng.normal(0, 0.1, n).astype(np.float32))
    model.eval()
    return model


@pytest.mark.parametrize("arch", ["picodet-s", "picodet-m"])
def test_padding_keeps_the_outputs_and_rounds_every_backbone_conv(arch: str):
    paddle.seed(0)
    model = with_random_statistics(build_model(arch, input_size=96))
    before = {k: v.shape for k, v in model.state_dict().items()}
    padded = pad_channels(model)
    image = paddle.to_tensor(np.random.default_rng(1).standard_normal((1, 3, 96, 96)).astype(np.float32))
    expected = [t.numpy() for t in build_export_layer(model, "none")(image)]
    got = [t.numpy() for t in build_export_layer(padded, "none")(image)]
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-5 * max(1.0, float(np.abs(e).max())))
    convs = [layer for layer in padded.backbone.sublayers() if isinstance(layer, paddle.nn.Conv2D)]
    assert all(c._out_channels % 16 == 0 for c in convs)
    assert any(c._out_channels % 16 for c in model.backbone.sublayers() if isinstance(c, paddle.nn.Conv2D))
    assert {k: v.shape for k, v in model.state_dict().items()} == before, "the original model is untouched"


def test_other_backbones_are_left_alone():
    model = build_model("picodet-lcnet-1.5x", input_size=96)
    assert pad_channels(model) is model


def test_layout_of_a_concatenation():
    joined = Layout.padded(44, 16) + Layout.padded(44, 16)
    assert joined.total == 96
    assert list(joined.positions[42:46]) == [42, 43, 48, 49]
