"""PicoDet v2 through the stages a user runs: `picodet run` with a v2 recipe (train, eval, export), `picodet eval`
of the v2 checkpoint it trained, and INT8 quantization of a v2 model; tiny (96 px, 16 images, 1 epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.recipe.loader import default_recipes_dir

SIZE = 96  # four levels: strides 8 to 64
RECIPE = str(default_recipes_dir() / "xs-320-v2-coco.toml")
runner = CliRunner()


def json_of(output: str):
    return json.loads(output[min(i for i in (output.find("{"), output.find("[")) if i >= 0) :])


@pytest.fixture(scope="module")
def v2_sets(tiny_sets, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`--set` arguments: the v2 recipe on the shapes data, one device, one epoch at 96 px, ONNX export only."""
    out = tmp_path_factory.mktemp("v2run") / "run"
    extra = ["train.epochs=1", "train.devices=1", "model.num_classes=4", f"model.input_size={SIZE}",
             f"augment.sizes=[{SIZE}]", 'export.formats=["onnx"]']  # fmt: skip
    return [a for s in tiny_sets(out, *extra) for a in ("--set", s)]


@pytest.fixture(scope="module")
def v2_run(v2_sets) -> list[dict]:
    """The stage rows of one `picodet run` of the v2 recipe."""
    result = runner.invoke(app, ["run", RECIPE, *v2_sets, "--only", "train,eval,export", "--json"])
    assert result.exit_code == 0, result.output
    return json_of(result.stdout)


def _out(sets: list[str]) -> Path:
    value = next(s for s in sets if s.startswith("output.dir="))
    return Path(value.split("=", 1)[1].strip('"'))


def test_run_v2_recipe_trains_evaluates_and_exports(v2_run, v2_sets):
    rows = v2_run
    out = _out(v2_sets)
    assert [(r["name"], r["status"]) for r in rows] == [("train", "done"), ("eval", "done"), ("export", "done")]
    assert 0.0 <= rows[1]["summary"]["map50"] <= 1.0
    assert rows[2]["summary"]["formats"] == {"onnx": "ok"}
    model = json.loads((out / "weights" / "model.json").read_text())
    assert "v2" in json.dumps(model), model
    meta = json.loads((out / "export" / "export_report.json").read_text())
    assert meta["formats"]["onnx"]["status"] == "ok"
    from picodet_cli.runtimes.model import RuntimeModel

    onnx = RuntimeModel(out / "export" / "onnx")
    assert onnx.meta["generation"] == "v2" and onnx.strides == (8, 16, 32, 64) and onnx.input_size == (SIZE, SIZE)


def test_eval_v2_checkpoint_on_tiny_coco(v2_run, v2_sets, shapes_data):
    out = _out(v2_sets)
    weights = next((out / "weights").glob("*.pdparams"))
    args = ["eval", str(weights), "--data", str(shapes_data.val_annotations), "--images", str(shapes_data.val_images)]
    result = runner.invoke(app, [*args, "--json", "--out", str(out / "eval2")])
    assert result.exit_code == 0, result.output
    report = json_of(result.stdout)
    assert report["num_images"] == 8 and 0.0 <= report["map50"] <= 1.0


@pytest.fixture(scope="module")
def v2_fp32(tmp_path_factory: pytest.TempPathFactory):
    """The quantize pipeline's FP32 ONNX of a random-init xs-320-v2 at 64 px (3 classes) and 4 calibration inputs.
    (`picodet quantize --method ptq` itself needs the legacy Paddle toolchain: too slow for this test.)"""
    import numpy as np
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.artifacts import artifact_meta, export_fp32

    paddle.seed(0)
    model = build_model("xs-320-v2", num_classes=3, input_size=64)
    names = ["a", "b", "c"]
    files = export_fp32(model, "xs-v2", names, tmp_path_factory.mktemp("v2int8"))
    calib = np.random.default_rng(0).uniform(-2, 2, (4, 3, 64, 64)).astype(np.float32)
    return files["onnx"], calib, artifact_meta(model, "xs-v2", names, "onnx")


def test_v2_onnx_int8_runs_integer_convs_and_decodes_as_v2(v2_fp32, tmp_path: Path):
    import numpy as np

    from picodet_cli.runtimes.model import RuntimeModel
    from picodet_cli.slim.onnx_int8 import conv_names, quantize_onnx_int8

    onnx_path, calib, meta = v2_fp32
    out = tmp_path / "int8" / "model.onnx"
    info = quantize_onnx_int8(onnx_path, calib, out, meta)
    assert info["integer_convs"] == len(conv_names(onnx_path)) and info["float_convs"] == 0, info
    int8 = RuntimeModel(out)
    assert int8.meta["generation"] == "v2" and int8.strides == (8, 16, 32, 64)
    bbox, num = int8.detect(calib[:1], np.array([[64, 64]], np.float32), np.ones((1, 2), np.float32))
    assert bbox.shape == (int(num.sum()), 6)


def test_v2_openvino_int8_by_nncf(v2_fp32, tmp_path: Path):
    from picodet_cli.slim.nncf_int8 import integer_convs, quantize_openvino_int8

    onnx_path, calib, _ = v2_fp32
    xml = tmp_path / "model.xml"
    info = quantize_openvino_int8(onnx_path, calib, xml)
    assert xml.is_file() and info["integer_convs"] > 20 and info["reverted"] == []
    assert integer_convs(xml) == {k: info[k] for k in ("integer_convs", "float_convs")}
