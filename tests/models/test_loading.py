"""load_weights: clear mismatch messages, non-strict loading, class-count changes; L variant detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from picodet_cli.errors import CheckpointMismatch
from picodet_cli.models.head import CLS_BIAS_INIT
from picodet_cli.models.loading import load_weights
from picodet_cli.models.registry import arch_for_state_dict, build_model
from picodet_cli.zoo import load_zoo

from .helpers import read_pdparams, zeros_state_dict


@pytest.fixture(scope="module")
def golden_weights(golden_dirs: list[Path]) -> dict[str, np.ndarray]:
    return read_pdparams(golden_dirs[0] / "weights_perturbed.pdparams")


@pytest.fixture(scope="module")
def model_s() -> Any:
    return build_model("s-320")


def test_exact_checkpoint_loads_everything(model_s: Any, golden_weights: dict[str, np.ndarray]) -> None:
    report = load_weights(model_s, golden_weights)
    assert report.ok and len(report.loaded) == len(golden_weights)
    assert report.summary() == f"loaded {len(golden_weights)} tensors"
    np.testing.assert_array_equal(
        model_s.state_dict()["neck.conv_t.convs.0.bn._mean"].numpy(), golden_weights["neck.conv_t.convs.0.bn._mean"]
    )


def _broken(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    broken = dict(weights)
    for name in [k for k in weights if k.startswith("backbone.3_")][:8]:
        del broken[name]
    broken["neck.extra.weight"] = np.zeros([3], np.float32)
    broken["neck.conv_t.convs.1.conv.weight"] = np.zeros([96, 191, 1, 1], np.float32)
    return broken


def test_strict_mismatch_is_one_clear_message(model_s: Any, golden_weights: dict[str, np.ndarray]) -> None:
    with pytest.raises(CheckpointMismatch) as info:
        load_weights(model_s, _broken(golden_weights))
    message = str(info.value)
    assert "checkpoint does not fit picodet-s (80 classes)" in message
    assert "8 missing keys: backbone.3_1._conv_dw_1._conv.weight," in message
    assert "... and 3 more" in message
    assert "1 unexpected key: neck.extra.weight" in message
    shapes = "(checkpoint [96, 191, 1, 1], model [96, 192, 1, 1])"
    assert f"1 shape mismatch: neck.conv_t.convs.1.conv.weight {shapes}" in message
    assert info.value.hint and "strict=False" in info.value.hint


def test_non_strict_loads_what_fits(golden_weights: dict[str, np.ndarray]) -> None:
    model = build_model("s-320")
    before = model.state_dict()["neck.conv_t.convs.1.conv.weight"].numpy()
    report = load_weights(model, _broken(golden_weights), strict=False)
    assert (len(report.missing), len(report.unexpected), len(report.mismatched)) == (8, 1, 1)
    assert len(report.loaded) == len(golden_weights) - 9
    state = model.state_dict()
    np.testing.assert_array_equal(state["neck.conv_t.convs.1.conv.weight"].numpy(), before)
    np.testing.assert_array_equal(state["head.head_cls0.weight"].numpy(), golden_weights["head.head_cls0.weight"])
    assert "8 missing keys" in report.summary()


def test_unused_entries_may_be_absent(model_s: Any, golden_weights: dict[str, np.ndarray]) -> None:
    trimmed = {k: v for k, v in golden_weights.items() if "scale_reg" not in k and "project" not in k}
    report = load_weights(model_s, trimmed)
    assert report.ok and len(report.loaded) == len(golden_weights) - 5
    np.testing.assert_array_equal(model_s.state_dict()["head.distribution_project.project"].numpy(), np.arange(8))


def test_other_class_count_reinitialises_only_the_class_outputs(golden_weights: dict[str, np.ndarray]) -> None:
    model = build_model("s-320", num_classes=3)
    report = load_weights(model, golden_weights)
    assert sorted(report.reinitialized) == sorted(f"head.head_cls{i}.{p}" for i in range(4) for p in ("weight", "bias"))
    assert report.checkpoint_classes == 80 and report.model_classes == 3
    assert "checkpoint has 80 classes, model 3: re-initialised the class outputs of head.head_cls0" in report.summary()
    state = model.state_dict()
    for name, value in golden_weights.items():
        if name not in report.reinitialized:
            np.testing.assert_array_equal(state[name].numpy(), value, err_msg=name)
    for level in range(4):
        weight = state[f"head.head_cls{level}.weight"].numpy()
        bias = state[f"head.head_cls{level}.bias"].numpy()
        assert weight.shape == (3 + 32, 96, 1, 1)
        assert 0.005 < weight[:3].std() < 0.015
        np.testing.assert_allclose(bias[:3], CLS_BIAS_INIT, rtol=1e-6)
        # the 32 box-distribution outputs share the conv and keep their trained values
        np.testing.assert_array_equal(weight[3:], golden_weights[f"head.head_cls{level}.weight"][80:])
        np.testing.assert_array_equal(bias[3:], golden_weights[f"head.head_cls{level}.bias"][80:])


def test_class_change_can_be_refused(golden_weights: dict[str, np.ndarray]) -> None:
    with pytest.raises(CheckpointMismatch, match=r"8 shape mismatches: head\.head_cls0\.weight") as info:
        load_weights(build_model("s-320", num_classes=3), golden_weights, allow_class_change=False)
    assert info.value.hint and info.value.hint.startswith("the checkpoint has 80 classes")


def test_l_variant_is_detected(manifests: dict[str, dict[str, Any]]) -> None:
    archs = load_zoo().archs
    seed = zeros_state_dict(manifests["picodet_l_seed128"])
    assert arch_for_state_dict(seed, archs["picodet-l"]).name == "picodet-l-seed128"
    assert arch_for_state_dict(zeros_state_dict(manifests["picodet_l_640"]), archs["picodet-l"]).name == "picodet-l"
    assert arch_for_state_dict(zeros_state_dict(manifests["picodet_s_320"]), archs["picodet-s"]).name == "picodet-s"
    assert arch_for_state_dict({}, archs["picodet-m"]).name == "picodet-m"
    # the seed-era checkpoint loads strictly into the detected architecture, not into the 160-ch L
    assert load_weights(build_model(arch_for_state_dict(seed, archs["picodet-l"])), seed).ok
    with pytest.raises(CheckpointMismatch, match=r"168 unexpected keys: head\.conv_feat\.reg_conv_dw0\.0") as info:
        load_weights(build_model("l-640"), seed)
    assert info.value.hint == "the checkpoint matches architecture 'picodet-l-seed128': build the model from that one"
