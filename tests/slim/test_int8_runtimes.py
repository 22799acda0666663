"""INT8 models that run as integer kernels: onnxruntime's fused QDQ form and OpenVINO via NNCF, counted in each
runtime's own optimized graph on a tiny random-init PicoDet-S (64 px)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SIZE = 64


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, dict]:
    """The quantize run's FP32 ONNX (padded, opset 14) of a random PicoDet-S and 4 calibration inputs."""
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.artifacts import artifact_meta, export_fp32

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=3, input_size=SIZE)
    names = ["a", "b", "c"]
    files = export_fp32(model, "s", names, tmp_path_factory.mktemp("int8"))
    calib = np.random.default_rng(0).uniform(-2, 2, (4, 3, SIZE, SIZE)).astype(np.float32)
    return files["onnx"], calib, artifact_meta(model, "s", names, "onnx")


def test_fp32_onnx_has_hard_swish_as_one_op(fp32):
    import onnx

    ops = {n.op_type for n in onnx.load(str(fp32[0])).graph.node}
    assert "HardSwish" in ops


def test_onnxruntime_runs_every_conv_as_an_integer_conv(fp32, tmp_path: Path):
    from picodet_cli.slim.onnx_int8 import conv_names, integer_convs, quantize_onnx_int8

    onnx_path, calib, meta = fp32
    total = len(conv_names(onnx_path))
    assert integer_convs(onnx_path) == {"integer_convs": 0, "float_convs": total}  # the count sees FP32 convs
    info = quantize_onnx_int8(onnx_path, calib, tmp_path / "int8.onnx", meta)
    assert total > 100
    assert info["integer_convs"] == total and info["float_convs"] == 0, info


def test_bias_correction_brings_a_shifted_conv_back_to_fp32(fp32, tmp_path: Path):
    import onnx
    from onnx import numpy_helper

    from picodet_cli.slim.onnx_int8 import correct_biases, quantize_onnx_int8

    onnx_path, calib, meta = fp32
    info = quantize_onnx_int8(onnx_path, calib, tmp_path / "int8.onnx", meta)
    assert info["bias_corrected"] == info["integer_convs"] > 0
    model = onnx.load(str(tmp_path / "int8.onnx"))
    init = {i.name: i for i in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    bias = next(n.input[0] for n in model.graph.node if conv.input[2] in n.output)  # the int32 bias of its DQ
    corrected = numpy_helper.to_array(init[bias]).copy()
    init[bias].CopyFrom(numpy_helper.from_array(corrected + 5000, bias))  # a mean error far beyond rounding
    assert correct_biases(model, onnx.load(str(onnx_path)), calib) == info["bias_corrected"]
    restored = numpy_helper.to_array(init[bias]).astype(np.int64)
    assert np.abs(restored - corrected).max() < 500  # back near the corrected bias, 5000 away before


def test_level_by_level_evaluation_gives_each_conv_the_whole_graphs_output(fp32, tmp_path: Path):
    """correct_biases evaluates the QDQ graph in stages (one conv level at a time, on stored tensors): every
    conv's output matches the whole graph's run on the same images."""
    import onnx

    from picodet_cli.slim.onnx_int8 import _channel_means, _levels, _run_stage, quantize_onnx_int8

    onnx_path, calib, meta = fp32
    quantize_onnx_int8(onnx_path, calib, tmp_path / "int8.onnx", meta)
    model = onnx.load(str(tmp_path / "int8.onnx"))
    convs = [n.output[0] for n in model.graph.node if n.op_type == "Conv"]
    values = {"image": [calib[i : i + 1] for i in range(len(calib))]}
    staged = {}
    stages = _levels(model.graph)
    assert len(stages) > 20  # one stage per conv level and one for the ops after it
    for nodes, keep in stages:
        _run_stage(model, nodes, values)
        staged |= {name: np.concatenate(values[name]) for name in convs if name in values}
        for name in set(values) - keep:
            del values[name]
    assert set(staged) == set(convs) and not values
    whole = _channel_means(model, convs, calib)
    for name, mean in zip(convs, whole, strict=True):
        np.testing.assert_allclose(staged[name].mean(axis=(0, 2, 3)), mean, rtol=1e-3, atol=1e-3, err_msg=name)


def test_onnxruntime_keeps_excluded_convs_float(fp32, tmp_path: Path):
    from picodet_cli.slim.onnx_int8 import conv_names, quantize_onnx_int8

    onnx_path, calib, meta = fp32
    names = conv_names(onnx_path)
    info = quantize_onnx_int8(onnx_path, calib, tmp_path / "int8.onnx", meta, exclude=tuple(names[:2]))
    assert info["integer_convs"] == len(names) - 2 and info["float_convs"] == 2, info
    assert info["kept_float"] == sorted(names[:2])


def test_openvino_int8_by_nncf_runs_integer_convs(fp32, tmp_path: Path):
    from picodet_cli.slim.nncf_int8 import integer_convs, quantize_openvino_int8

    onnx_path, calib, _ = fp32
    xml = tmp_path / "model.xml"
    info = quantize_openvino_int8(onnx_path, calib, xml)
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    assert info["integer_convs"] > 50 and info["reverted"] == [] and info["accuracy_control"] is None
    assert integer_convs(xml) == {k: info[k] for k in ("integer_convs", "float_convs")}


def test_the_fastest_scheme_within_the_drop_is_kept_after_one_measurement(fp32, tmp_path: Path):
    from picodet_cli.slim.nncf_int8 import SCHEMES, quantize_openvino_int8

    onnx_path, calib, _ = fp32
    calls = []

    def metric(run, positions):
        calls.append(len(positions))
        run({"image": calib[:1]})
        return 0.5

    info = quantize_openvino_int8(onnx_path, calib, tmp_path / "model.xml", metric, 3, 0.01)
    assert calls == [3, 3]  # FP32 once, then the first scheme only
    assert info["scheme"] == SCHEMES[0].name and info["schemes"] == [
        {"scheme": SCHEMES[0].name, "map": 0.5, "drop": 0.0}
    ]
    assert info["reverted"] == [] and info["float_convs"] == 0


def test_accuracy_control_keeps_the_measured_worst_layers_float(fp32, tmp_path: Path):
    """When no scheme is within the drop, accuracy control measures layer by layer. A metric that rewards agreement
    with FP32 and a ~zero drop allowance (a random-init head is near constant, so its INT8 error is ~1e-7): NNCF
    must revert quantizers, by measurement."""
    import onnxruntime as ort

    from picodet_cli.slim.nncf_int8 import SCHEMES, quantize_openvino_int8

    onnx_path, calib, _ = fp32
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    reference = [session.run(None, {"image": calib[i : i + 1]}) for i in range(len(calib))]

    def metric(run, positions):
        errors = []
        for i in positions:
            got = run({"image": calib[i : i + 1]})
            errors.append(max(float(np.abs(np.asarray(g) - r).max()) for g, r in zip(got, reference[i], strict=True)))
        return -float(np.mean(errors))

    info = quantize_openvino_int8(onnx_path, calib, tmp_path / "model.xml", metric, len(calib), 1e-9, max_reverts=2)
    assert info["accuracy_control"] == {"max_drop": 1e-9, "val_images": 4}
    assert [t["scheme"] for t in info["schemes"]] == [s.name for s in SCHEMES]  # each measured, none within 1e-9
    assert all(t["drop"] > 1e-9 for t in info["schemes"]) and abs(info["fp32_map"]) < 1e-6
    assert 1 <= len(info["reverted"]) <= 4, info  # a reverted group holds one or a few quantizers
