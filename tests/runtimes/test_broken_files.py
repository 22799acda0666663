"""Broken and hostile artifacts (generated here: garbage bytes, truncated real files) are one PicodetError line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.errors import PicodetError
from picodet_cli.runtimes.registry import locate_artifact, open_runtime

IMAGE = {"image": np.zeros((1, 3, 8, 8), np.float32)}


def garbage(path: Path, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(len(path.name)).bytes(size))
    return path


def truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def one_line_error(path: Path) -> PicodetError:
    """Loading (and, if it loads, running) `path` raises one PicodetError line naming the file."""
    with pytest.raises(PicodetError) as info:
        open_runtime(locate_artifact(path), threads=1).run(IMAGE)
    assert "\n" not in info.value.message and str(path.parent.name) in info.value.message
    return info.value


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """image [1,3,8,8] -> conv 3x3 (4 channels) as ONNX, OpenVINO IR and MNN."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["scores"], pads=[1, 1, 1, 1])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(weights, "w")],
    )
    root = tmp_path_factory.mktemp("tiny")
    onnx_path = root / "onnx" / "model.onnx"
    onnx_path.parent.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(onnx_path))
    files = {"onnx": onnx_path}
    if _importable("openvino"):
        from picodet_cli.export.openvino import export_openvino

        files["openvino"] = export_openvino(onnx_path, root / "openvino" / "model.xml", False)[0]
    if _importable("MNN"):
        from picodet_cli.export.mnn import export_mnn

        files["mnn"] = export_mnn(onnx_path, root / "mnn" / "model.mnn", False)
    return files


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_the_tiny_models_load(tiny):
    for path in tiny.values():
        assert open_runtime(locate_artifact(path), threads=1).run(IMAGE)[0].shape == (1, 4, 8, 8)


def test_garbage_and_truncated_onnx(tiny, tmp_path):
    error = one_line_error(garbage(tmp_path / "garbage" / "model.onnx"))
    assert "not a readable onnx model" in error.message and "export the model again" in error.hint
    one_line_error(truncated(tiny["onnx"], tmp_path / "short" / "model.onnx"))


def test_truncated_openvino_xml_and_bin(tiny, tmp_path):
    if "openvino" not in tiny:
        pytest.skip("openvino is not installed")
    xml, weights = tiny["openvino"], tiny["openvino"].with_suffix(".bin")
    short_xml = truncated(xml, tmp_path / "xml" / "model.xml")
    shutil.copy(weights, short_xml.with_suffix(".bin"))
    one_line_error(short_xml)
    short_bin = truncated(weights, tmp_path / "bin" / "model.bin")
    shutil.copy(xml, short_bin.with_suffix(".xml"))
    assert "Incorrect weights" in one_line_error(short_bin.with_suffix(".xml")).message
    one_line_error(garbage(tmp_path / "garbage" / "model.xml"))


def test_garbage_and_truncated_mnn(tiny, tmp_path):
    pytest.importorskip("MNN")
    one_line_error(garbage(tmp_path / "garbage" / "model.mnn"))
    one_line_error(truncated(tiny["mnn"], tmp_path / "short" / "model.mnn", 0.3))


def test_garbage_and_truncated_ncnn(tmp_path):
    pytest.importorskip("ncnn")
    garbage(tmp_path / "garbage" / "model.ncnn.param")
    garbage(tmp_path / "garbage" / "model.ncnn.bin")
    one_line_error(tmp_path / "garbage" / "model.ncnn.param")
    param = tmp_path / "short" / "model.ncnn.param"
    param.parent.mkdir()
    param.write_text("7767517\n2 2\nInput in0 0 1 in0\nConvolution conv0 1 1 in0 out0 0=4 1=3 4=1 5=1 6=108\n")
    param.with_suffix(".bin").write_bytes(b"\0" * 40)  # 108 weights + 4 biases need 448 bytes
    one_line_error(param)


def test_garbage_lite_nb_is_refused_on_load(tmp_path):
    error = one_line_error(garbage(tmp_path / "garbage" / "model_x86.nb"))
    assert "not a Paddle-Lite naive-buffer model" in error.message


def test_garbage_paddle_params(tmp_path):
    import paddle

    layer = paddle.nn.Conv2D(3, 4, 3, padding=1)
    layer.eval()
    spec = [paddle.static.InputSpec([1, 3, 8, 8], "float32", "image")]
    paddle.jit.save(layer, str(tmp_path / "model"), input_spec=spec)
    folder = tmp_path / "paddle"
    folder.mkdir()
    shutil.copy(tmp_path / "model.json", folder / "model.json")
    garbage(folder / "model.pdiparams")
    one_line_error(folder / "model.json")
    truncated(tmp_path / "model.json", folder / "model.json")
    one_line_error(folder / "model.json")


@pytest.mark.parametrize("command", ["predict", "bench"])
def test_cli_says_one_line_for_a_garbage_onnx(tmp_path, command):
    """`predict` and `bench` on an export folder whose ONNX is garbage: one error line, no traceback."""
    folder = tmp_path / "export"
    garbage(folder / "onnx" / "model.onnx")
    args = [command, str(folder)] + ([str(garbage(tmp_path / "x.jpg"))] if command == "predict" else [])
    args += ["--formats", "onnx"] if command == "bench" else []
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "not a readable onnx model" in result.output and "Traceback" not in result.output
    assert sum(line.startswith("error:") for line in result.output.splitlines()) == 1
