"""The EMA of the weights: the closed form of a few updates, with bias correction, and its reset."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from picodet_cli.engine.ema import ModelEMA


def test_ema_is_the_bias_corrected_average_of_the_weights_it_saw():
    layer = paddle.nn.Sequential(paddle.nn.Linear(3, 2), paddle.nn.BatchNorm1D(2))
    ema = ModelEMA(layer, decay=0.9)
    seen = []
    for step in range(4):
        for value in layer.state_dict().values():
            value.set_value(paddle.full(value.shape, float(step + 1), value.dtype))
        seen.append(step + 1.0)
        ema.update(layer)
    weights = np.array([0.1 * 0.9 ** (3 - i) for i in range(4)])
    expected = float(weights @ np.array(seen)) / (1 - 0.9**4)
    for key, value in ema.state_dict().items():
        np.testing.assert_allclose(value, np.full(value.shape, expected), rtol=1e-6, err_msg=key)


def test_reset_starts_the_average_over():
    layer = paddle.nn.Linear(2, 2)
    ema = ModelEMA(layer, decay=0.5, cycle_epochs=2)
    ema.update(layer)
    ema.maybe_reset(epoch=2)
    assert ema.updates == 0
    with pytest.raises(ValueError):
        ema.state_dict()
    ema.update(layer)
    np.testing.assert_allclose(ema.state_dict()["weight"], layer.weight.numpy(), rtol=1e-6)
