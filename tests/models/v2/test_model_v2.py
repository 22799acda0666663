"""PicoDet v2 networks: state dicts equal the upstream manifests, zoo names build them, checkpoints load."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from picodet_cli.models.flops import count_flops, count_params
from picodet_cli.models.generations import get_generation
from picodet_cli.models.loading import load_weights
from picodet_cli.models.registry import build_model
from picodet_cli.models.v2.detector import PicoDetV2
from picodet_cli.zoo import load_zoo

V2_MODELS = [
    f"{w}-{n}-v2"
    for w, sizes in (("xs", (320, 416)), ("s", (320, 416)), ("m", (320, 416)), ("l", (320, 416, 640)))
    for n in sizes
]
WIDTH_ARCH = {"xs": "picodet-xs-v2", "s": "picodet-s-v2", "m": "picodet-m-v2", "l": "picodet-l-v2"}


@pytest.fixture(scope="module")
def built(manifests_v2: dict[str, dict[str, Any]]) -> dict[str, tuple[dict[str, Any], Any]]:
    """(manifest, freshly built model) per width."""
    archs = load_zoo().archs
    return {
        stem: (m, build_model(archs[WIDTH_ARCH[stem.removeprefix("picodet_v2_")]], input_size=m["input_size"]))
        for stem, m in manifests_v2.items()
    }


def test_every_width_has_a_manifest(manifests_v2: dict[str, dict[str, Any]]) -> None:
    assert set(manifests_v2) == {"picodet_v2_xs", "picodet_v2_s", "picodet_v2_m", "picodet_v2_l"}


def test_names_order_and_shapes_match(built: dict[str, tuple[dict[str, Any], Any]]) -> None:
    for stem, (manifest, model) in built.items():
        assert isinstance(model, PicoDetV2)
        expected = [(name, list(shape)) for name, shape, _ in manifest["state_dict"]]
        got = [(name, list(t.shape)) for name, t in model.state_dict().items()]
        assert got == expected, stem
        assert len(got) == manifest["num_entries"]


def test_parameter_counts_match(built: dict[str, tuple[dict[str, Any], Any]]) -> None:
    for stem, (manifest, model) in built.items():
        assert count_params(model) == manifest["trainable_params"], stem
        assert count_params(model, trainable_only=False) == manifest["total_incl_bn_running_stats_and_buffers"], stem
        assert count_params(model) / 1e6 == pytest.approx(manifest["seed_readme_params_M"], abs=0.01), stem


@pytest.mark.parametrize("name", V2_MODELS)
def test_zoo_models_build_by_name_and_alias(name: str) -> None:
    entry = load_zoo().get(name)
    width, size = name.split("-")[:2]
    assert entry.arch.generation == "v2" and entry.input_size == int(size)
    assert load_zoo().get(f"picodet_{width}_{size}_coco_lcnet") is entry  # the upstream file stem
    assert load_zoo().get(f"picodet_v2_{width}_{size}") is entry
    assert entry.weights_url.endswith(f"/picodet_{width}_{size}_coco_lcnet.pdparams")
    assert entry.cpu_latency_ms is not None and entry.latency_ms > 0


def test_v1_names_keep_their_meaning() -> None:
    zoo = load_zoo()
    assert zoo.get("s-416").arch.generation == "v1" and zoo.get("picodet_s_416").arch.name == "picodet-s"
    assert zoo.get("lcnet-1.5x-416").arch.generation == "v1"
    assert get_generation("v2").network_class() is PicoDetV2


@pytest.mark.parametrize("name", ["s-320-v2", "s-416-v2", "m-416-v2", "l-640-v2"])
def test_flops_close_below_published(name: str) -> None:
    """Same convention as v1 (2 x MACs of convs): 0.7-1.5% under the published GFLOPs."""
    entry = load_zoo().get(name)
    gflops = count_flops(build_model(name), entry.input_size)
    assert entry.gflops * 0.98 <= gflops <= entry.gflops, f"{name}: {gflops:.3f} vs {entry.gflops}"


def test_s_416_has_the_published_parameter_count() -> None:
    assert count_params(build_model("s-416-v2")) / 1e6 == pytest.approx(1.18, abs=0.01)


def _checkpoint(model: Any) -> dict[str, np.ndarray]:
    rs = np.random.RandomState(0)
    return {k: rs.standard_normal(v.shape).astype(np.float32) for k, v in model.state_dict().items()}


def test_develop_alias_keys_load() -> None:
    """Newer upstream files list head_cls{l}/head_reg{l} a second time as head_cls_list.{l}/head_reg_list.{l}:
    both spellings load, the canonical one wins, and the unused scale_reg/project entries may be absent."""
    model = build_model("s-320-v2")
    state = _checkpoint(model)
    aliased = {k.replace("head.head_cls", "head.head_cls_list.").replace("head.head_reg", "head.head_reg_list."): v
               for k, v in state.items() if k.startswith(("head.head_cls", "head.head_reg"))}  # fmt: skip
    only_aliases = {k: v for k, v in state.items() if not k.startswith(("head.head_cls", "head.head_reg"))} | aliased
    report = load_weights(model, only_aliases)
    assert report.ok and len(report.loaded) == len(state)
    np.testing.assert_array_equal(model.head.head_reg3.bias.numpy(), state["head.head_reg3.bias"])
    both = state | {k: v + 1 for k, v in aliased.items()}  # develop's state_dict(): same tensors under both names
    assert load_weights(build_model("s-320-v2"), both).ok
    without_unused = {k: v for k, v in state.items() if "scale_reg" not in k and "distribution_project" not in k}
    assert load_weights(build_model("s-320-v2"), without_unused).ok


def test_fine_tuning_to_other_classes_reinitialises_only_the_class_convs() -> None:
    source = build_model("s-416-v2")
    state = _checkpoint(source)
    model = build_model("s-416-v2", num_classes=3)
    report = load_weights(model, state)
    assert report.ok and report.checkpoint_classes == 80
    assert sorted({n.rsplit(".", 1)[0] for n in report.reinitialized}) == [f"head.head_cls{i}" for i in range(4)]
    assert model.head.head_cls0.weight.shape == [3, 96, 1, 1]
    np.testing.assert_array_equal(model.head.head_reg0.weight.numpy(), state["head.head_reg0.weight"])
    np.testing.assert_array_equal(model.head.cls_align[0].bn2.weight.numpy(), state["head.cls_align.0.bn2.weight"])


def test_align_conv_training_path_equals_the_convolution() -> None:
    """The align branch's dense 5x5 C->1 conv is computed tap by tap in training: same values and gradients."""
    import paddle

    from picodet_cli.models.v2.head import AlignModule

    module = AlignModule(16, 5)
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal((2, 16, 9, 7)).astype(np.float32))
    conv = module.dwconv
    grads = []
    for training in (True, False):
        conv.train() if training else conv.eval()
        inp = x.detach()
        inp.stop_gradient = False
        out = conv(inp)
        (out * out).sum().backward()
        grads.append((out.numpy(), inp.grad.numpy(), conv.weight.grad.numpy()))
        conv.weight.clear_gradient()
    for fast, plain in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-4)
