"""Real conversions, real runtimes: every format exports and passes verification."""

from __future__ import annotations

import json

import pytest

from picodet_cli.export.formats import FORMATS, PRECISIONS
from picodet_cli.export.metadata import SIDECAR, read_onnx_metadata
from picodet_cli.export.report import build_report, write_report

from .conftest import export, random_model


@pytest.mark.parametrize("name", [f.name for f in FORMATS])
def test_every_format_passes_verification(s_export, name):
    _, results = s_export
    result = results[name]
    assert result.status == "ok", f"{name}: {result.error} {result.hint}"
    feeds = result.verification["inputs"]
    assert set(feeds) == {"random", "image"}
    for feed in feeds.values():
        assert feed["agreement"] >= PRECISIONS["fp32"].box_agreement
        for output in feed["outputs"].values():
            assert output["max_abs"] <= output["limit"]


def test_each_runtime_gets_its_graph_variant(s_export):
    """Paddle: no interpolation op (oneDNN runs it all); ONNX: the padded ESNet (every conv a multiple of 16)."""
    import onnx
    from onnx import numpy_helper

    from picodet_cli.runtimes.paddle import onednn_kernels_work

    out, _ = s_export
    assert onednn_kernels_work(out / "paddle" / "model.json")
    graph = onnx.load(str(out / "onnx" / "model.onnx")).graph
    weights = {w.name: numpy_helper.to_array(w) for w in graph.initializer}
    conv_outputs = [weights[n.input[1]].shape[0] for n in graph.node if n.op_type == "Conv"]
    assert 24 not in conv_outputs and 44 not in conv_outputs and 32 in conv_outputs


def test_artifacts_carry_metadata(s_export):
    import onnx

    out, _ = s_export
    model = onnx.load(str(out / "onnx" / "model.onnx"))
    props = read_onnx_metadata({p.key: p.value for p in model.metadata_props})
    assert props["input_size"] == [160, 160] and props["strides"] == [8, 16, 32, 64] and props["reg_max"] == 7
    assert props["outputs"][:2] == ["scores_0", "scores_1"] and len(props["class_names"]) == 80
    for folder in ("paddle", "ncnn", "mnn", "openvino", "lite"):
        meta = json.loads((out / folder / SIDECAR).read_text())
        assert meta["format"] == folder and meta["num_classes"] == 80 and meta["color_order"] == "RGB"
    graph = model.graph
    assert [i.name for i in graph.input] == ["image"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 160, 160]
    assert [o.name for o in graph.output] == [f"scores_{i}" for i in range(4)] + [f"boxes_{i}" for i in range(4)]


def test_lite_reports_its_x86_twin(s_export):
    _, results = s_export
    names = sorted(p.name for p in results["lite"].files if p.suffix == ".nb")
    assert len(names) == 2 and any("arm" in n for n in names) and any("x86" in n for n in names)
    assert "x86 twin" in results["lite"].note


def test_report_lists_files_sizes_and_hashes(s_export):
    out, results = s_export
    from picodet_cli.export.pipeline import ExportOptions

    options = ExportOptions(formats=list(FORMATS), out_dir=out)
    report = build_report("picodet-s", 160, options, list(results.values()), {})
    path = write_report(report, out)
    data = json.loads(path.read_text())
    assert data["ok"] and set(data["formats"]) == {f.name for f in FORMATS}
    onnx_entry = data["formats"]["onnx"]
    assert onnx_entry["files"][0]["path"] == "onnx/model.onnx" and len(onnx_entry["files"][0]["sha256"]) == 64
    assert onnx_entry["size_mb"] > 0.5 and onnx_entry["seconds"] > 0


def test_broken_artifact_fails_and_names_the_output(s_export, s_model, tmp_path):
    import onnx
    from onnx import numpy_helper

    from picodet_cli.export.deploy_graph import build_export_layer
    from picodet_cli.export.metadata import read_onnx_metadata
    from picodet_cli.export.verify import reference_outputs, verification_inputs, verify_artifact
    from picodet_cli.runtimes.registry import Artifact

    out, _ = s_export
    model = onnx.load(str(out / "onnx" / "model.onnx"))
    # the last conv is a head conv (80 class + 32 box channels): shift its class biases after export
    # (onnxsim shares the identical initial biases of the four levels, so every level's scores move)
    head = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    init = next(i for i in model.graph.initializer if i.name == head.input[2])
    bias = numpy_helper.to_array(init).copy()
    bias[:80] += 0.5
    init.CopyFrom(numpy_helper.from_array(bias, init.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    meta = read_onnx_metadata({p.key: p.value for p in model.metadata_props})
    feeds = verification_inputs(160, "none")
    reference = reference_outputs(build_export_layer(s_model, "none"), feeds)
    check = verify_artifact(Artifact("onnx", "onnxruntime", broken), meta, feeds, reference, "fp32")
    assert not check.ok
    assert check.failures and all(f.startswith("output scores_") for f in check.failures), check.failures
    assert "output scores_3 diverged: scores off by" in check.failures[3]


@pytest.mark.parametrize("arch", ["picodet-shufflenetv2-1x", "picodet-mobilenetv3-large-1x", "picodet-lcnet-1.5x"])
def test_other_backbones_export(arch, tmp_path):
    results = export(random_model(arch, 128), tmp_path / arch, ["onnx", "ncnn", "mnn", "openvino"])
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(results, "ok"), {
        n: r.error for n, r in results.items()
    }


def test_decode_in_graph_at_opset_13(s_model, tmp_path):
    formats = ["paddle", "onnx", "ncnn", "mnn", "openvino"]
    results = export(s_model, tmp_path / "decode", formats, postprocess="decode", opset=13)
    for name, result in results.items():
        assert result.status == "ok", f"{name}: {result.error}"
        assert result.verification["inputs"]["image"]["outputs"]["boxes"]["shape"] == [1, 400 + 100 + 25 + 9, 4]


def test_nms_in_graph(golden_model, tmp_path):
    """Real weights, so the in-graph score threshold (0.025) leaves boxes to compare."""
    results = export(golden_model, tmp_path / "nms", ["paddle", "onnx"], postprocess="nms")
    for name, result in results.items():
        assert result.status == "ok", f"{name}: {result.error}"
        assert result.verification["inputs"]["image"]["boxes"] > 10


def test_fp16_exports_agree_on_boxes(golden_fp16_export):
    out, results = golden_fp16_export
    for name in ("ncnn", "mnn", "openvino"):
        assert results[name].status == "ok", f"{name}: {results[name].error}"
        image = results[name].verification["inputs"]["image"]
        assert image["agreement"] >= 0.98
        # half-precision weights cost ~1e-2 on the scores (MNN's own truncating cast cost ~4e-2)
        assert max(o["max_abs"] for n, o in image["outputs"].items() if n.startswith("scores")) < 1.5e-2
    assert (out / "ncnn" / "model.ncnn.bin").stat().st_size < 0.6 * (out / "onnx" / "model.onnx").stat().st_size
    assert (out / "mnn" / "model.mnn").stat().st_size < 0.6 * (out / "onnx" / "model.onnx").stat().st_size
