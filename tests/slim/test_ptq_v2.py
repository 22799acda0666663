"""PTQ of a random-init PicoDet v2 (LCNet + LCPAN + PicoHeadV2, four levels): the Paddle, ONNX, OpenVINO and Lite
INT8 models are written and verified, hold quantize ops, and picodet's runtime model runs them in v2's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picodet_cli.toolchain import envs

from .conftest import SIZE

ARCH = "picodet-s-v2"
ARTIFACTS = ("paddle_int8", "onnx_int8", "openvino_int8", "lite_int8_arm", "lite_int8_x86")
CHECKS = ("paddle_int8/paddle", "onnx_int8/onnxruntime", "onnx_int8/openvino", "openvino_int8/openvino",
          "lite_int8_x86/lite")  # fmt: skip
RUNTIME_ARTIFACTS = ("paddle_int8", "onnx_int8", "openvino_int8")
V2_STRIDES = (8, 16, 32, 64)


@pytest.fixture(scope="module")
def ptq_v2_report(legacy_toolchain: Path, val_index, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One PTQ run of a random-init PicoDet-S v2 (128 px, 4 classes, abs_max on the 4 validation images).

    2 latency runs (test_ptq.py checks the report's measurements on v1; here the v2 graph is what is new).
    """
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.pipeline import QuantSettings, calibration_images, quantize

    paddle.seed(0)
    model = build_model(ARCH, num_classes=len(val_index.class_names), input_size=SIZE)
    settings = QuantSettings(calib_images=4, algo="abs_max", batch_size=2, latency_runs=2)
    calib = calibration_images(val_index, SIZE, settings.calib_images, settings.batch_size)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(legacy_toolchain))
        out = tmp_path_factory.mktemp("ptq-v2") / "quant"
        return quantize(model, ARCH, val_index.class_names, out, settings, calib, val_index)


def test_v2_int8_artifacts_are_written_and_verified(ptq_v2_report: dict):
    assert ptq_v2_report["ok"], ptq_v2_report["verification"]
    assert ptq_v2_report["failed"] == {}
    for key in ARTIFACTS:
        assert Path(ptq_v2_report["artifacts"][key]).is_file(), key
    assert set(ptq_v2_report["verification"]) == set(CHECKS)
    for check in ptq_v2_report["verification"].values():
        assert check["ok"], check["failures"]


def test_v2_int8_models_hold_quantize_ops(ptq_v2_report: dict):
    import onnx

    from picodet_cli.slim.onnx_int8 import depthwise_convs

    layers = ptq_v2_report["quantized_layers"]
    depthwise = depthwise_convs(Path(ptq_v2_report["fp32_artifacts"]["onnx"]))
    assert len(depthwise) > 10 and layers["paddle"] == layers["total"] - len(depthwise)  # regular convs only
    assert layers["onnx"] > 50 and layers["openvino"] > 50
    graph = onnx.load(ptq_v2_report["artifacts"]["onnx_int8"]).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 30
    program = Path(ptq_v2_report["artifacts"]["paddle_int8"]).read_bytes()
    assert b"dequantize" in program  # Paddle's frozen fake-quant format


@pytest.mark.parametrize("key", RUNTIME_ARTIFACTS)
def test_runtime_model_runs_v2_int8_artifacts_in_the_v2_layout(ptq_v2_report: dict, key: str):
    from picodet_cli.runtimes.model import RuntimeModel

    model = RuntimeModel(Path(ptq_v2_report["artifacts"][key]).parent)
    assert model.generation.name == "v2" and model.strides == V2_STRIDES
    assert model.num_classes == 4 and model.input_size == (SIZE, SIZE)
    image = np.random.default_rng(0).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    outputs = model.runtime.run({"image": image})
    cells = [(SIZE // s) ** 2 for s in V2_STRIDES]
    assert [o.reshape(-1, o.shape[-1]).shape for o in outputs] == [(c, 4) for c in cells] + [
        (c, 4 * (model.reg_max + 1)) for c in cells
    ]
    bbox, num = model.detect(image, np.array([[SIZE, SIZE]], np.float32), np.ones((1, 2), np.float32))
    assert bbox.shape[1] == 6 and len(num) == 1
