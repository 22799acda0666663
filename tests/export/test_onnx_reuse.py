"""One ONNX conversion per content in a process: the same layer again is a copy, any change converts anew."""

from __future__ import annotations

from pathlib import Path

import pytest

SIZE = 64


@pytest.fixture(scope="module")
def model():
    import paddle

    from picodet_cli.export.layout import pad_channels
    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    return pad_channels(build_model("picodet-s", num_classes=3, input_size=SIZE))


def convert(layer, meta: dict, out: Path) -> tuple[bool, object]:
    """(whether paddle2onnx ran: the scratch folder got a program, the written model)."""
    import onnx

    from picodet_cli.export.formats import DEFAULT_OPSET
    from picodet_cli.export.onnx import onnx_of_layer

    scratch = out.parent / f"{out.stem}-scratch"
    scratch.mkdir(parents=True)
    onnx_of_layer(layer, SIZE, "none", DEFAULT_OPSET, meta, out, scratch)
    return (scratch / "model.json").is_file(), onnx.load(str(out))


def test_same_content_is_converted_once_and_changes_convert_again(model, tmp_path: Path):
    import copy

    from picodet_cli.export.metadata import build_metadata
    from picodet_cli.export.paddle_inference import onednn_variant

    meta = build_metadata(model, "s", ["a", "b", "c"], "none", "onnx", False)
    ran, first = convert(model, meta, tmp_path / "first.onnx")
    assert ran
    ran, again = convert(model, meta | {"model": "renamed"}, tmp_path / "again.onnx")  # other metadata only
    assert not ran and again.graph == first.graph
    assert {p.key: p.value for p in again.metadata_props} != {p.key: p.value for p in first.metadata_props}

    changed = copy.deepcopy(model)
    weight = changed.head.state_dict()[next(iter(changed.head.state_dict()))]
    weight.set_value(weight.numpy() + 1.0)  # one tensor of other weights
    ran, other = convert(changed, meta, tmp_path / "weights.onnx")
    assert ran and other.graph != first.graph

    ran, _ = convert(model, meta, tmp_path / "back.onnx")
    assert ran  # only the last conversion is kept
    ran, _ = convert(onednn_variant(model), meta, tmp_path / "variant.onnx")  # same weights, a swapped function
    assert ran
    ran, _ = convert(model, {**meta, "outputs": [f"x{i}" for i in range(len(meta["outputs"]))]}, tmp_path / "o.onnx")
    assert ran  # other output names
