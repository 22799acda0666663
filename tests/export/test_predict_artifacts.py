"""`Detector` / `picodet predict` on exported artifacts give the Paddle model's detections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.export.verify import ASSET
from picodet_cli.predict.predictor import Detector


def assert_same(a, b, score_tol=1e-4, box_tol=0.05):
    assert len(a.detections) == len(b.detections) > 0
    for x, y in zip(a.detections, b.detections, strict=True):
        assert x.class_id == y.class_id and x.name == y.name
        assert abs(x.score - y.score) <= score_tol
        np.testing.assert_allclose(x.box, y.box, atol=box_tol)


@pytest.fixture(scope="module")
def paddle_prediction(golden_model):
    return Detector(golden_model, score_threshold=0.3).predict(ASSET)


def test_onnx_predicts_like_paddle(golden_fp16_export, paddle_prediction):
    out, _ = golden_fp16_export
    got = Detector(out / "onnx" / "model.onnx", score_threshold=0.3).predict(ASSET)
    assert_same(paddle_prediction, got)


def test_export_folder_and_paddle_folder(golden_fp16_export, paddle_prediction):
    out, _ = golden_fp16_export
    assert_same(paddle_prediction, Detector(out, score_threshold=0.3).predict(ASSET))  # root: ONNX first
    assert_same(paddle_prediction, Detector(out / "paddle", score_threshold=0.3).predict(ASSET))


def test_fp16_artifact_predicts_close_to_paddle(golden_fp16_export, paddle_prediction):
    out, _ = golden_fp16_export
    got = Detector(out / "openvino", score_threshold=0.3).predict(ASSET)
    # Matched by class and IoU, not by rounded pixels: on CPUs with AVX512-FP16 OpenVINO computes in half
    # precision and a box edge moves by a pixel or two.
    matched = [p for p in paddle_prediction.detections[:10] if any(_same_box(p, d) for d in got.detections)]
    assert len(matched) >= 8


def _same_box(a, b, min_iou=0.9) -> bool:
    ax1, ay1, ax2, ay2 = a.box
    bx1, by1, bx2, by2 = b.box
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return a.class_id == b.class_id and inter / union >= min_iou


def test_paddledetection_onnx_without_metadata(golden_fp16_export, paddle_prediction, tmp_path):
    """A v1 deploy-layout ONNX with fetch_name_N outputs and no metadata: everything is inferred."""
    import onnx

    out, _ = golden_fp16_export
    model = onnx.load(str(out / "onnx" / "model.onnx"))
    del model.metadata_props[:]
    names = {o.name: f"fetch_name_{i}" for i, o in enumerate(model.graph.output)}
    for node in model.graph.node:
        node.output[:] = [names.get(o, o) for o in node.output]
    for output in model.graph.output:
        output.name = names[output.name]
    path = tmp_path / "picodet_s_320_coco.onnx"
    onnx.save(model, str(path))
    detector = Detector(path, score_threshold=0.3)
    assert detector.model.strides == (8, 16, 32, 64) and detector.model.input_size == (320, 320)
    assert detector.class_names[0] == "person"
    assert_same(paddle_prediction, detector.predict(ASSET))


def test_artifact_with_weights_is_refused(golden_fp16_export):
    out, _ = golden_fp16_export
    with pytest.raises(PicodetError, match="already holds its weights"):
        Detector(out / "onnx", weights="x.pdparams")


def test_artifact_with_other_input_size_is_refused(golden_fp16_export):
    out, _ = golden_fp16_export
    with pytest.raises(PicodetError, match="exported for input"):
        Detector(out / "onnx", input_size=416)


def test_predict_cli_on_an_artifact(golden_fp16_export, paddle_prediction, tmp_path):
    from typer.testing import CliRunner

    from picodet_cli.cli.main import app

    out, _ = golden_fp16_export
    result = CliRunner().invoke(
        app, ["predict", str(out / "ncnn"), str(ASSET), "--out", str(tmp_path), "--score-threshold", "0.3", "--json"]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "predictions.json").read_text())
    found = saved["predictions"][0]["detections"]
    assert Path(saved["predictions"][0]["output"]).is_file()
    assert [d["class_id"] for d in found[:5]] == [d.class_id for d in paddle_prediction.detections[:5]]
