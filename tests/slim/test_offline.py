"""PTQ offline without the legacy toolchain: the ONNX/OpenVINO INT8 models and the report are still written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picodet_cli.slim.report import REPORT
from picodet_cli.toolchain import envs

SIZE = 128


@pytest.fixture(scope="module")
def offline_report(val_index, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.pipeline import QuantSettings, calibration_images, quantize

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=len(val_index.class_names), input_size=SIZE)
    settings = QuantSettings(calib_images=4, algo="abs_max", batch_size=2, latency_runs=2)
    calib = calibration_images(val_index, SIZE, settings.calib_images, settings.batch_size)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(tmp_path_factory.mktemp("no-toolchains")))
        mp.setenv("PICODET_OFFLINE", "1")
        out = tmp_path_factory.mktemp("offline") / "quant"
        return quantize(model, "picodet-s", val_index.class_names, out, settings, calib, val_index)


def test_onnx_and_openvino_int8_are_written_and_verified(offline_report: dict):
    assert offline_report["ok"]
    assert set(offline_report["artifacts"]) == {"onnx_int8", "openvino_int8"}
    assert set(offline_report["verification"]) == {
        "onnx_int8/onnxruntime", "onnx_int8/openvino", "openvino_int8/openvino"
    }  # fmt: skip
    assert set(offline_report["int8"]) == {"onnxruntime", "openvino"} and "paddle" not in offline_report["latency"]


def test_paddle_and_lite_rows_fail_with_the_install_hint(offline_report: dict):
    on_disk = json.loads((Path(offline_report["out_dir"]) / REPORT).read_text())
    assert set(on_disk["failed"]) == {"paddle_int8", "lite_int8"}
    for why in on_disk["failed"].values():
        assert "PICODET_OFFLINE=1" in why and "picodet toolchain install legacy" in why
    assert sum("picodet toolchain install legacy" in w for w in on_disk["warnings"]) == 2
    assert "paddle" not in on_disk["quantized_layers"] and on_disk["quantized_layers"]["onnx"] > 50


def test_the_table_shows_the_failed_rows(offline_report: dict):
    from rich.console import Console

    from picodet_cli.cli.quantize import quant_table

    console = Console(record=True, width=200)
    console.print(quant_table(offline_report))
    text = console.export_text()
    assert "paddle_int8" in text and "FAILED" in text and "mAP50 (onnxruntime)" in text
