"""Runtime adapters: picking one from a path, availability checks, a tiny real model through each."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.errors import MissingDependency, PicodetError
from picodet_cli.export.metadata import infer_metadata
from picodet_cli.runtimes.base import quiet_stdout
from picodet_cli.runtimes.mnn import MnnRuntime
from picodet_cli.runtimes.registry import locate_artifact, looks_like_artifact, runtime_class


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("relative", "fmt", "runtime"),
    [
        ("onnx/model.onnx", "onnx", "onnxruntime"),
        ("openvino/model.xml", "openvino", "openvino"),
        ("ncnn/model.ncnn.param", "ncnn", "ncnn"),
        ("mnn/model.mnn", "mnn", "mnn"),
        ("paddle/model.json", "paddle", "paddle"),
        ("lite/model_x86.nb", "lite", "lite"),
    ],
)
def test_files_and_folders_pick_their_runtime(tmp_path, relative, fmt, runtime):
    path = touch(tmp_path / relative)
    for given in (path, path.parent):
        artifact = locate_artifact(given)
        assert (artifact.format, artifact.runtime, artifact.path) == (fmt, runtime, path)


def test_export_folder_prefers_onnx_and_ignores_pnnx_side_files(tmp_path):
    for name in ("ncnn/model.ncnn.param", "ncnn/model.pnnx.onnx", "mnn/model.mnn", "onnx/model.onnx"):
        touch(tmp_path / name)
    assert locate_artifact(tmp_path).path == tmp_path / "onnx" / "model.onnx"
    assert locate_artifact(tmp_path / "ncnn").format == "ncnn"


def test_lite_folder_prefers_the_x86_twin(tmp_path):
    touch(tmp_path / "model_arm.nb")
    touch(tmp_path / "model_x86.nb")
    assert locate_artifact(tmp_path).path.name == "model_x86.nb"


def test_non_artifacts_are_refused(tmp_path):
    touch(tmp_path / "notes.txt")
    with pytest.raises(PicodetError, match="not an exported model"):
        locate_artifact(tmp_path)
    with pytest.raises(PicodetError, match="no such file"):
        locate_artifact(tmp_path / "missing.onnx")
    assert not looks_like_artifact("s-416") and not looks_like_artifact(tmp_path)


def test_missing_module_makes_the_runtime_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "MNN", None)  # `import MNN` now raises ImportError
    assert not MnnRuntime.available()
    with pytest.raises(MissingDependency) as info:
        MnnRuntime.require()
    assert info.value.hint == "pip install MNN"


def test_unknown_runtime_lists_the_known_ones():
    with pytest.raises(PicodetError, match="unknown runtime"):
        runtime_class("tensorrt")


def test_quiet_stdout_silences_native_prints(capfd, monkeypatch):
    monkeypatch.delenv("PICODET_DEBUG", raising=False)
    with quiet_stdout():
        os.write(1, b"native chatter\n")
    os.write(1, b"after\n")
    captured = capfd.readouterr()
    assert captured.out == "after\n" and "native chatter" not in captured.err


def test_quiet_stdout_moves_native_prints_to_stderr_when_debugging(capfd, monkeypatch):
    monkeypatch.setenv("PICODET_DEBUG", "1")
    with quiet_stdout():
        os.write(1, b"native chatter\n")
    captured = capfd.readouterr()
    assert captured.out == "" and "native chatter" in captured.err


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_adapters_run_a_tiny_onnx(tiny_onnx, name):
    runtime = runtime_class(name)()
    pytest.importorskip(runtime.module)
    runtime.load(tiny_onnx, threads=1)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    (out,) = runtime.run({"image": x})
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), atol=1e-6)
    assert runtime.version()


def test_infer_metadata_non_square():
    shapes = [[1, 40 * 52, 80], [1, 20 * 26, 80], [1, 10 * 13, 80], [1, 5 * 7, 80]]
    meta = infer_metadata([1, 3, 320, 416], shapes + [[1, s[1], 32] for s in shapes])
    assert meta["input_size"] == [320, 416] and meta["strides"] == [8, 16, 32, 64]
    assert meta["reg_max"] == 7 and meta["num_classes"] == 80 and meta["class_names"] is None


def test_infer_metadata_rejects_other_layouts():
    with pytest.raises(PicodetError, match="input size"):
        infer_metadata([1, 3, "h", "w"], [[1, 4, 80], [1, 4, 32]])
    with pytest.raises(PicodetError, match="fits no stride"):
        infer_metadata([1, 3, 64, 64], [[1, 7, 80], [1, 7, 32]])


@pytest.mark.parametrize("upsample", ["interpolate", "concat"])
def test_paddle_runtime_uses_onednn_where_it_works(tmp_path, upsample):
    """An `*_interp` op keeps the program off oneDNN kernels (it fails there in paddle 3.3.1); both run exactly."""
    import paddle
    import paddle.nn.functional as F

    from picodet_cli.runtimes.paddle import PaddleRuntime, onednn_kernels_work

    class Tiny(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)

        def forward(self, image: paddle.Tensor) -> paddle.Tensor:
            x = F.hardswish(self.conv(image))
            if upsample == "interpolate":
                return F.interpolate(x, size=[16, 16], mode="nearest")
            x = paddle.reshape(x, [1, 32, 8, 1])
            x = paddle.reshape(paddle.concat([x, x], axis=3), [1, 32, 1, 16])
            return paddle.reshape(paddle.concat([x, x], axis=2), [1, 4, 16, 16])

    paddle.seed(0)
    layer = Tiny()
    layer.eval()
    spec = [paddle.static.InputSpec([1, 3, 8, 8], "float32", "image")]
    paddle.jit.save(layer, str(tmp_path / "model"), input_spec=spec)
    assert onednn_kernels_work(tmp_path / "model.json") == (upsample == "concat")
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    runtime = PaddleRuntime()
    runtime.load(tmp_path / "model.json", threads=1)
    (out,) = runtime.run({"image": x})
    np.testing.assert_allclose(out, layer(paddle.to_tensor(x)).numpy(), atol=1e-5)
