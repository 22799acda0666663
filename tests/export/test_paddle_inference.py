"""The Paddle program of an export: picodet's layers traced as plain Python give dy2static's own program."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SIZE = 64


@pytest.mark.parametrize("postprocess", ["none", "decode", "nms"])
def test_program_is_the_one_dy2static_conversion_gives(tmp_path: Path, postprocess: str):
    import paddle
    from paddle.jit.dy2static import convert_call_func
    from paddle.static import InputSpec

    import picodet_cli
    from picodet_cli.export.deploy_graph import build_export_layer
    from picodet_cli.export.paddle_inference import export_paddle
    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    layer = build_export_layer(build_model("picodet-s", num_classes=3, input_size=SIZE), postprocess)
    export_paddle(layer, tmp_path / "fast", SIZE, postprocess)
    assert picodet_cli not in convert_call_func.BUILTIN_LIKELY_MODULES  # later tracing converts as usual
    specs = [InputSpec([1, 3, SIZE, SIZE], "float32", "image")]
    specs += [InputSpec([1, 2], "float32", "scale_factor")] if postprocess == "nms" else []
    paddle.jit.save(layer, str(tmp_path / "converted" / "model"), input_spec=specs)  # every function converted
    fast, converted = (program(tmp_path / name / "model.json") for name in ("fast", "converted"))
    assert len(fast) > 10_000 and fast == converted


def program(model_json: Path) -> str:
    """The program without the layer-path attributes (`/ESNet_1/ConvBN/...`: a second trace of a layer in one
    process numbers its path)."""
    return re.sub(r'\{"AT":\{"#":"0.a_str","D":"/[^"]*"\},"N":"struct_name"\},?', "", model_json.read_text())
