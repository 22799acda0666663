"""Backbones, layers and the model builder on tiny inputs."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.models.backbones import build_backbone, list_backbones
from picodet_cli.models.layers import channel_shuffle, get_act, make_divisible
from picodet_cli.models.registry import build_model
from picodet_cli.zoo import load_zoo

# Spec §1: backbone output channels (strides 8, 16, 32) of every zoo architecture.
OUT_CHANNELS = {
    "picodet-s": [96, 192, 384],
    "picodet-m": [128, 256, 512],
    "picodet-l": [160, 320, 640],
    "picodet-l-seed128": [160, 320, 640],
    "picodet-shufflenetv2-1x": [116, 232, 464],
    "picodet-mobilenetv3-large-1x": [40, 112, 160],
    "picodet-lcnet-1.5x": [192, 384, 768],
}


def _check_features(backbone: paddle.nn.Layer, channels: list[int], size: int = 64) -> None:
    backbone.eval()
    with paddle.no_grad():
        feats = backbone(paddle.rand([1, 3, size, size]))
    assert backbone.out_channels == channels
    assert [list(f.shape) for f in feats] == [
        [1, c, size // s, size // s] for c, s in zip(channels, (8, 16, 32), strict=True)
    ]


@pytest.mark.parametrize("arch_name", sorted(OUT_CHANNELS))
def test_zoo_backbones_give_strides_8_16_32(arch_name: str) -> None:
    arch = load_zoo().archs[arch_name]
    _check_features(build_backbone(arch.backbone, **arch.backbone_args), OUT_CHANNELS[arch_name])


@pytest.mark.parametrize(
    ("name", "args", "channels"),
    [
        ("esnet", {"scale": 0.5, "channel_ratio": [0.5] * 13}, [64, 128, 256]),
        ("lcnet", {"scale": 0.75}, [96, 192, 384]),
        ("shufflenetv2", {"scale": 0.5, "act": "relu"}, [48, 96, 192]),
    ],
)
def test_other_widths(name: str, args: dict, channels: list[int]) -> None:
    _check_features(build_backbone(name, **args), channels)


def test_registry_errors() -> None:
    assert list_backbones() == ["esnet", "lcnet", "mobilenetv3", "shufflenetv2"]
    with pytest.raises(PicodetError, match="unknown backbone 'esnett'") as info:
        build_backbone("esnett")
    assert info.value.hint == "did you mean 'esnet'?"
    with pytest.raises(PicodetError, match="bad backbone_args for 'lcnet'"):
        build_backbone("lcnet", scale=1.0, width=2)
    with pytest.raises(PicodetError, match=r"ShuffleNetV2 has no scale 0\.7"):
        build_backbone("shufflenetv2", scale=0.7)
    with pytest.raises(PicodetError, match="13 channel_ratio values"):
        build_backbone("esnet", channel_ratio=[1.0])


def test_layers() -> None:
    cases = {(96, 16): 96, (84, 8): 88, (18, 8): 24, (24.0, 8): 24, (320, 16): 320}
    assert {args: make_divisible(*args) for args in cases} == cases
    x = np.arange(2 * 6 * 2 * 3, dtype=np.float32).reshape(2, 6, 2, 3)
    expected = x.reshape(2, 2, 3, 2, 3).transpose(0, 2, 1, 3, 4).reshape(2, 6, 2, 3)
    np.testing.assert_array_equal(channel_shuffle(paddle.to_tensor(x), 2).numpy(), expected)
    v = paddle.to_tensor([-10.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(get_act("leaky_relu", 0.02)(v).numpy(), [-0.2, -0.02, 0.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(get_act("hard_sigmoid", 0.2)(v).numpy(), [0.0, 0.3, 0.5, 0.9], rtol=1e-6)
    np.testing.assert_allclose(get_act("hard_swish")(v).numpy(), [0.0, -1 / 3, 0.0, 5 / 3], rtol=1e-6)
    with pytest.raises(PicodetError, match="unknown activation 'gelu'"):
        get_act("gelu")


def test_shufflenet_uses_the_fluid_leaky_slope() -> None:
    backbone = build_backbone("shufflenetv2", scale=1.0, act="leaky_relu")
    assert backbone._conv1.act(paddle.to_tensor([-1.0])).item() == pytest.approx(-0.02)


def test_small_custom_model() -> None:
    model = build_model("picodet-s", num_classes=3, input_size=256)
    assert (model.num_classes, model.input_size, model.strides, model.reg_max) == (3, 256, (8, 16, 32, 64), 7)
    model.eval()
    with paddle.no_grad():
        image = paddle.rand([2, 3, 256, 256])
        cls_logits, bbox_reg = model.head_outputs(image)
        outputs = model(image)
    sizes = [32, 16, 8, 4]
    assert [list(t.shape) for t in cls_logits] == [[2, 3, s, s] for s in sizes]
    assert [list(t.shape) for t in bbox_reg] == [[2, 32, s, s] for s in sizes]
    assert [list(t.shape) for t in outputs] == [[2, s * s, 3] for s in sizes] + [[2, s * s, 32] for s in sizes]


def test_build_model_names() -> None:
    assert build_model("picodet_m_416_coco").input_size == 416
    assert build_model("picodet-lcnet-1.5x").input_size == 320
    with pytest.raises(PicodetError, match="unknown model or architecture 's-321'") as info:
        build_model("s-321")
    assert info.value.hint and info.value.hint.startswith("did you mean")
