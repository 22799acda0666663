"""PTQ of a random-init model on a handful of generated images: every INT8 artifact exists, runs and is reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.slim.report import REPORT
from picodet_cli.slim.verify import AGREEMENT_LIMIT

ARTIFACTS = ("paddle_int8", "onnx_int8", "openvino_int8", "lite_int8_arm", "lite_int8_x86")
CHECKS = ("paddle_int8/paddle", "onnx_int8/onnxruntime", "onnx_int8/openvino", "openvino_int8/openvino",
          "lite_int8_x86/lite")  # fmt: skip


def test_every_int8_artifact_is_written_and_verified(ptq_report: dict):
    assert ptq_report["ok"], ptq_report["verification"]
    for key in ARTIFACTS:
        assert Path(ptq_report["artifacts"][key]).is_file(), key
    assert set(ptq_report["verification"]) == set(CHECKS)
    for check in ptq_report["verification"].values():
        assert set(check["inputs"]) == {"random", "image", "sample"}  # sample: a calibration image, judged
        assert check["inputs"]["sample"]["agreement"] >= AGREEMENT_LIMIT


def test_report_has_every_field(ptq_report: dict):
    on_disk = json.loads((Path(ptq_report["out_dir"]) / REPORT).read_text())
    for key in ("method", "model", "input_size", "calibration", "artifacts", "quantized_layers", "verification",
                "fp32", "int8", "drop", "sizes_bytes", "latency", "ok"):  # fmt: skip
        assert key in on_disk, key
    assert on_disk["calibration"] == {**on_disk["calibration"], "images": 4, "source": "evaluation images"}
    assert set(on_disk["fp32"]) == {"map", "map50"}
    assert set(on_disk["int8"]) == {"onnxruntime", "openvino", "paddle"}
    assert set(on_disk["recommend"]) == {"onnxruntime", "openvino", "paddle"}
    assert on_disk["cpu"]["model"] and isinstance(on_disk["cpu"]["int8_features"], list)
    assert all(set(v) == {"map", "map50"} for v in on_disk["drop"].values())
    assert on_disk["quantized_layers"]["paddle"] > 50 and on_disk["quantized_layers"]["onnx"] > 50
    assert on_disk["failed"] == {}
    for runtime in ("onnxruntime", "openvino", "paddle"):
        assert on_disk["latency"][runtime]["fp32_ms"] > 0 and on_disk["latency"][runtime]["int8_ms"] > 0
    sizes = on_disk["sizes_bytes"]
    assert sizes["onnx_int8"] < sizes["fp32_onnx"] / 2
    assert sizes["lite_int8_arm"] > 0


def test_int8_convs_are_counted_per_format(ptq_report: dict):
    """onnxruntime runs every conv it was asked to quantize as QLinearConv; Paddle quantizes the regular convs."""
    from picodet_cli.slim.onnx_int8 import depthwise_convs

    layers, notes = ptq_report["quantized_layers"], ptq_report["layers"]
    depthwise = depthwise_convs(Path(ptq_report["fp32_artifacts"]["onnx"]))
    assert len(depthwise) > 10
    assert layers["paddle"] == layers["total"] - len(depthwise)
    ort = notes["onnxruntime"]
    assert ort["integer_convs"] + ort["float_convs"] == layers["total"] == layers["onnx"] + ort["float_convs"]
    assert notes["openvino"]["integer_convs"] > 50 and notes["openvino"]["why"]


def test_int8_graphs_hold_quantize_ops(ptq_report: dict):
    import onnx

    graph = onnx.load(ptq_report["artifacts"]["onnx_int8"]).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) > 50
    props = {p.key for p in onnx.load(ptq_report["artifacts"]["onnx_int8"]).metadata_props}
    assert {"strides", "input_size", "num_classes"} <= props


@pytest.mark.parametrize("key", ["onnx_int8", "paddle_int8", "openvino_int8"])
def test_runtime_model_opens_int8_artifacts(ptq_report: dict, key: str):
    from picodet_cli.runtimes.model import RuntimeModel

    path = Path(ptq_report["artifacts"][key])
    model = RuntimeModel(path.parent)
    assert model.num_classes == 4 and model.input_size == (128, 128)
    image = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    bbox, num = model.detect(image, np.array([[128, 128]], np.float32), np.ones((1, 2), np.float32))
    assert bbox.shape[1] == 6 and len(num) == 1


def test_quant_folder_opens_like_an_export_folder(ptq_report: dict):
    from picodet_cli.runtimes.registry import locate_artifact

    assert locate_artifact(ptq_report["out_dir"]).path == Path(ptq_report["artifacts"]["onnx_int8"])


def test_report_table_renders(ptq_report: dict):
    from rich.console import Console

    from picodet_cli.cli.quantize import quant_table

    console = Console(record=True, width=160)
    console.print(quant_table(ptq_report))
    text = console.export_text()
    assert "mAP50 (onnxruntime)" in text and "latency (openvino)" in text and "quantized layers" in text


def test_a_broken_int8_model_fails_loudly(ptq_report: dict):
    """The same artifact against a reference with inverted scores (1 - p) must fail its check."""
    from picodet_cli.export.verify import verification_inputs
    from picodet_cli.runtimes.registry import runtime_class
    from picodet_cli.slim.verify import check_artifact

    path = Path(ptq_report["artifacts"]["onnx_int8"])
    meta = json.loads((Path(ptq_report["artifacts"]["openvino_int8"]).parent / "picodet.json").read_text())
    feeds = verification_inputs(128, "none")
    runtime = runtime_class("onnxruntime")()
    runtime.load(path)
    reference = {}
    for key, feed in feeds.items():
        outputs = runtime.run(feed)
        levels = len(outputs) // 2
        reference[key] = [1.0 - o if i < levels else o for i, o in enumerate(outputs)]
    check = check_artifact(path, "onnxruntime", meta, feeds, reference, threads=2)
    assert not check["ok"] and any("scores_0 diverged: mean error" in f for f in check["failures"]), check["failures"]
