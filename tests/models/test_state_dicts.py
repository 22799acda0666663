"""Every built model's state dict equals the official checkpoint's manifest: names, order, shapes, counts."""

from __future__ import annotations

from typing import Any

import pytest

from picodet_cli.models.flops import count_params
from picodet_cli.models.registry import build_model

from .helpers import arch_for_config


@pytest.fixture(scope="module")
def built(manifests: dict[str, dict[str, Any]]) -> dict[str, tuple[dict[str, Any], Any]]:
    """(manifest, freshly built model) per manifest stem."""
    return {
        stem: (m, build_model(arch_for_config(m["config"]), input_size=m["input_size"]))
        for stem, m in manifests.items()
    }


def test_every_zoo_model_and_the_seed_l_have_a_manifest(manifests: dict[str, dict[str, Any]]) -> None:
    assert {"picodet_s_320", "picodet_l_640", "picodet_l_seed128", "picodet_lcnet_1_5x_416"} <= set(manifests)
    assert arch_for_config(manifests["picodet_l_seed128"]["config"]).name == "picodet-l-seed128"


def test_names_order_and_shapes_match(built: dict[str, tuple[dict[str, Any], Any]]) -> None:
    for stem, (manifest, model) in built.items():
        expected = [(name, list(shape)) for name, shape, _ in manifest["state_dict"]]
        got = [(name, list(t.shape)) for name, t in model.state_dict().items()]
        assert got == expected, stem
        assert all(dtype == "float32" for _, _, dtype in manifest["state_dict"])
        assert len(got) == manifest["num_entries"]


def test_parameter_counts_match(built: dict[str, tuple[dict[str, Any], Any]]) -> None:
    for stem, (manifest, model) in built.items():
        trainable = count_params(model)
        assert trainable == manifest["trainable_params"], stem
        assert count_params(model, trainable_only=False) == manifest["total_incl_bn_running_stats_and_buffers"], stem
        # the seed README's Params(M) (3.24 M for every L: the 160-ch L is 2% above it)
        tolerance = 0.025 if manifest["config"]["neck_out_channels"] == 160 else 0.01
        assert trainable / 1e6 == pytest.approx(manifest["seed_readme_params_M"], rel=tolerance), stem
