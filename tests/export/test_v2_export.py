"""PicoDet v2 through export, predict and bench: `picodet export s-320-v2 --to all`, artifacts that detect like
the Paddle model, and ONNX files in both layouts PaddleDetection exports (no picodet metadata)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.export.formats import FORMATS
from picodet_cli.runtimes.model import RuntimeModel

SIZE = 96
runner = CliRunner()


@pytest.fixture(scope="module")
def v2_model():
    """s-320-v2 at 96 px, random init with wider head convs so scores and boxes are well separated."""
    import paddle

    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    model = build_model("s-320-v2", input_size=SIZE)
    rng = np.random.default_rng(0)
    for name, param in model.named_parameters():  # (the head starts at N(0, 0.01): every score would tie)
        if name.startswith("head.") and len(param.shape) == 4:
            std = 0.05 if name.startswith("head.head_reg") else 0.3
            param.set_value(rng.normal(0, std, param.shape).astype("float32"))
    return model.eval()


@pytest.fixture(scope="module")
def weights(v2_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import paddle

    path = tmp_path_factory.mktemp("v2") / "s320v2.pdparams"
    paddle.save(v2_model.state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def v2_export(weights: Path) -> Path:
    out = weights.parent / "export"
    args = ["export", "s-320-v2", "--weights", str(weights), "--imgsz", str(SIZE), "--to", "all", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.random.default_rng(1).normal(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
    return image, np.array([[SIZE, SIZE]], np.float32), np.array([[0.5, 0.25]], np.float32)


def _same_detections(got: tuple, want: tuple) -> None:
    """Same count, and every detection has a twin (class, score within 1e-4, box within 0.05 px): rows with equal
    scores may come in another order."""
    (bbox, num), (ref, ref_num) = got, want
    assert num.tolist() == ref_num.tolist() and ref_num[0] > 0
    for row in bbox:
        twins = (ref[:, 0] == row[0]) & (np.abs(ref[:, 1] - row[1]) <= 1e-4)
        assert (twins & (np.abs(ref[:, 2:] - row[2:]) <= 0.05).all(axis=1)).any(), row


def test_export_all_writes_six_verified_artifacts(v2_export: Path):
    report = json.loads((v2_export / "export_report.json").read_text())
    rows = report["formats"]
    assert report["ok"] and set(rows) == {f.name for f in FORMATS}
    assert all(r["status"] == "ok" for r in rows.values()), rows
    sidecar = json.loads((v2_export / "paddle" / "picodet.json").read_text())
    assert (sidecar["generation"], sidecar["arch"], sidecar["input_size"]) == ("v2", "picodet-s-v2", [SIZE, SIZE])


@pytest.mark.parametrize("fmt", ["onnx", "paddle", "openvino"])
def test_v2_artifacts_detect_like_the_paddle_model(v2_export, v2_model, inputs, fmt):
    runtime = RuntimeModel(v2_export / fmt)
    assert runtime.meta["generation"] == "v2"
    _same_detections(runtime.detect(*inputs), v2_model.detect(*inputs))


def _strip(onnx_model) -> None:
    del onnx_model.metadata_props[:]


def test_paddledetection_non_postprocess_onnx(v2_export, v2_model, inputs, tmp_path):
    """Upstream's `_non_postprocess` layout: 8 outputs named fetch_name_N, no metadata; decoded like upstream's
    deploy code (per-level top-k, boxes clipped to the image)."""
    import onnx

    model = onnx.load(str(v2_export / "onnx" / "model.onnx"))
    _strip(model)
    names = {o.name: f"fetch_name_{i}" for i, o in enumerate(model.graph.output)}
    for node in model.graph.node:
        node.output[:] = [names.get(o, o) for o in node.output]
    for output in model.graph.output:
        output.name = names[output.name]
    path = tmp_path / "picodet_s_320_coco_lcnet.onnx"
    onnx.save(model, str(path))
    runtime = RuntimeModel(path)
    assert (runtime.strides, runtime.input_size, runtime.reg_max, runtime.num_classes) == (
        (8, 16, 32, 64), (SIZE, SIZE), 7, 80,
    )  # fmt: skip
    import paddle

    from picodet_cli.models.postprocess import postprocess_deploy

    outputs = [o.numpy() for o in v2_model(paddle.to_tensor(inputs[0]))]
    upstream = postprocess_deploy(outputs[:4], outputs[4:], (SIZE, SIZE), (8, 16, 32, 64), 7, inputs[2])
    _same_detections(runtime.detect(*inputs), upstream)


@pytest.fixture(scope="module")
def nms_onnx(weights: Path) -> Path:
    """Upstream's default layout built from our own export: inputs im_shape, image and scale_factor, outputs bbox
    [K, 6] and bbox_num [N] in original pixels, no picodet metadata."""
    import onnx
    from onnx import TensorProto, helper

    out = weights.parent / "nms"
    args = ["export", "s-320-v2", "--weights", str(weights), "--imgsz", str(SIZE), "--to", "onnx"]
    result = runner.invoke(app, [*args, "--postprocess", "nms", "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = onnx.load(str(out / "onnx" / "model.onnx"))
    _strip(model)
    model.graph.input.insert(0, helper.make_tensor_value_info("im_shape", TensorProto.FLOAT, ["N", 2]))
    assert [o.name for o in model.graph.output] == ["bbox", "bbox_num"]
    path = weights.parent / "upstream" / "picodet_s_320_coco_lcnet_postprocess.onnx"
    path.parent.mkdir()
    onnx.save(model, str(path))
    return path


def test_paddledetection_with_postprocess_onnx(nms_onnx, v2_model, inputs):
    """The runtime feeds every input and reads bbox as is."""
    runtime = RuntimeModel(nms_onnx)
    assert runtime.postprocess == "nms" and set(runtime.inputs) == {"im_shape", "image", "scale_factor"}
    _same_detections(runtime.detect(*inputs), v2_model.detect(*inputs))


@pytest.fixture(scope="module")
def self_labelled(v2_model, shapes_data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COCO json over 3 shapes images whose ground truth is the Paddle model's own confident detections (COCO's
    80 categories), so a correct evaluation of the same model scores mAP close to 1."""
    from picodet_cli.data.transforms import preprocess, read_image
    from picodet_cli.predict.predictor import default_class_names

    files = sorted(Path(shapes_data.val_images).iterdir())[:3]
    images, annotations = [], []
    for image_id, path in enumerate(files, 1):
        bgr = read_image(path)
        bbox, _ = v2_model.detect(*preprocess(bgr, SIZE))
        images.append({"id": image_id, "file_name": path.name, "height": bgr.shape[0], "width": bgr.shape[1]})
        for cls, _score, x1, y1, x2, y2 in np.asarray(bbox)[:3]:
            box = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})  # fmt: skip
    assert annotations
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(default_class_names(80))]
    path = tmp_path_factory.mktemp("selfgt") / "val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_bench_postprocess_onnx_latency_and_map(nms_onnx, self_labelled, shapes_data):
    """`picodet bench FILE.onnx --data` on the upstream layout: one onnx row with latency and the mAP of its own
    in-graph NMS (the ground truth is the model's own detections)."""
    from picodet_cli.bench import bench
    from picodet_cli.bench.request import BenchRequest

    report = bench(BenchRequest(
        str(nms_onnx), threads=1, warmup=0, runs=2, data=self_labelled, images=shapes_data.val_images,
    ))  # fmt: skip
    assert [r.format for r in report] == ["onnx"]
    row = report.row("onnx")
    assert row.status == "ok", row.error
    assert row.latency.mean > 0 and row.e2e_ms > 0 and row.artifact == str(nms_onnx)
    assert row.map > 0.9 and row.map50 > 0.9
    assert report.header["input_size"] == SIZE and report.header["num_classes"] == 80


def test_bench_cli_on_postprocess_onnx(nms_onnx):
    result = runner.invoke(app, ["bench", str(nms_onnx), "--threads", "1", "--warmup", "0", "--runs", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("{") :])["rows"]  # (progress lines come first)
    assert [(r["format"], r["status"]) for r in rows] == [("onnx", "ok")]
    refused = runner.invoke(app, ["bench", str(nms_onnx), "--formats", "openvino"])
    assert refused.exit_code == 1 and "leaves onnx out" in refused.output
