"""`picodet export QUANT_DIR`: the INT8 models of a quantization folder exported, verified and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picodet_cli.errors import PicodetError


@pytest.fixture(scope="module")
def exported(ptq_report: dict, legacy_toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from picodet_cli.slim.export_quantized import export_quantized
    from picodet_cli.toolchain import envs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(legacy_toolchain))
        out = tmp_path_factory.mktemp("int8-export")
        return export_quantized(Path(ptq_report["out_dir"]), "all", out)[0]


def test_every_int8_format_is_exported_and_checked(exported: dict):
    formats = exported["formats"]
    assert list(formats) == ["paddle", "onnx", "lite", "openvino"]  # the format table's order
    for name in ("onnx", "openvino", "paddle"):
        assert formats[name]["status"] == "ok", formats[name]
        assert formats[name]["verification"]["inputs"]["image"]["agreement"] > 0
    assert formats["lite"]["status"] == "unverified" and formats["lite"]["files"][0]["path"].endswith("model_arm.nb")
    out = Path(exported["out_dir"])
    assert json.loads((out / "export_report.json").read_text())["quantized_from"]
    assert (out / "openvino" / "model.xml").is_file() and (out / "openvino" / "picodet.json").is_file()


def test_int8_models_are_judged_on_the_kept_calibration_image(ptq_report: dict, exported: dict):
    import numpy as np

    from picodet_cli.slim.verify import CALIB_SAMPLE

    sample = np.load(Path(ptq_report["out_dir"]) / CALIB_SAMPLE)
    assert sample.shape == (1, 3, 128, 128) and sample.dtype == np.float32
    for name in ("onnx", "openvino", "paddle"):
        judged = exported["formats"][name]["verification"]["inputs"]["sample"]
        assert 0.0 <= judged["agreement"] <= 1.0 and judged["max_score_error"] < 0.5


def test_the_export_folder_opens_like_any_other(exported: dict):
    from picodet_cli.runtimes.model import RuntimeModel

    model = RuntimeModel(Path(exported["out_dir"]) / "openvino")
    assert model.num_classes == 4 and model.input_size == (128, 128)


def test_int8_onnx_keeps_its_quantize_ops(exported: dict):
    import onnx

    graph = onnx.load(str(Path(exported["out_dir"]) / "onnx" / "model.onnx")).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 50


@pytest.mark.parametrize("to", ["ncnn", "onnx,mnn", ""])
def test_formats_without_an_int8_form_are_refused(ptq_report: dict, tmp_path: Path, to: str):
    from picodet_cli.slim.export_quantized import export_quantized

    with pytest.raises(PicodetError, match="exports to paddle, onnx, lite, openvino only"):
        export_quantized(Path(ptq_report["out_dir"]), to, tmp_path)


def test_cli_refuses_fp32_only_flags_on_a_quant_folder(ptq_report: dict):
    from typer.testing import CliRunner

    from picodet_cli.cli.main import app

    result = CliRunner().invoke(app, ["export", ptq_report["out_dir"], "--to", "onnx", "--fp16"])
    assert result.exit_code != 0 and "not for a quantized model: --fp16" in result.output


def test_bench_takes_a_quant_folder(ptq_report: dict, tmp_path: Path):
    """FP32 rows from the folder's fp32/ references, INT8 rows beside them with precision, speed-up and mAP."""
    import shutil

    from picodet_cli.bench.api import bench
    from picodet_cli.bench.request import BenchRequest as Req

    report = bench(Req(ptq_report["out_dir"], formats="onnx,openvino,paddle,lite", warmup=0, runs=2, threads=1))
    rows = {(r.format, r.precision): r for r in report.rows}
    assert rows["onnx", "fp32"].status == "ok" and rows["onnx", "fp32"].artifact.endswith("fp32/onnx/model.onnx")
    assert rows["paddle", "fp32"].status == "ok" and "fp32/paddle" in rows["paddle", "fp32"].artifact
    assert rows["openvino", "fp32"].status == "skipped"  # a quantize folder keeps no FP32 IR
    onnx, openvino, paddle = (rows[f, "int8"] for f in ("onnx", "openvino", "paddle"))
    assert onnx.status == "ok" and onnx.artifact.endswith("onnx_int8/model.onnx")
    assert openvino.status == "ok" and "openvino_int8" in openvino.artifact
    assert paddle.status == "ok" and paddle.artifact.endswith("paddle_int8/model.pdmodel")
    assert rows["lite", "int8"].status == "ok" and rows["lite", "int8"].artifact.endswith("model_x86.nb")
    for row in (onnx, paddle):  # against the FP32 row of the same runtime in this table
        fp32 = rows[row.format, "fp32"]
        assert row.speedup == pytest.approx(fp32.latency.mean / row.latency.mean)
        assert ("use FP32" in (row.note or "")) == (row.speedup < 1)
    assert openvino.speedup == pytest.approx(ptq_report["latency"]["openvino"]["speedup"])  # measured by quantize
    assert onnx.map == pytest.approx(ptq_report["int8"]["onnxruntime"]["map"]) and "quant_report" in onnx.note

    arm_only = shutil.copytree(ptq_report["out_dir"], tmp_path / "quant")
    (arm_only / "lite_int8" / "model_x86.nb").unlink()
    lite = next(r for r in bench(Req(str(arm_only), formats="lite", warmup=0, runs=1)).rows if r.precision == "int8")
    assert lite.status == "skipped" and "ARM-only lite file" in lite.error and "--adb" in lite.hint


def test_bench_refuses_an_int8_folder_that_is_not_a_quantize_folder(tmp_path: Path):
    from typer.testing import CliRunner

    from picodet_cli.cli.main import app

    result = CliRunner().invoke(app, ["bench", "picodet-s", "--imgsz", "64", "--int8", str(tmp_path)])
    assert result.exit_code != 0 and "is not a `picodet quantize` folder" in result.output
