"""Box agreement: near-ties are left out, real divergence is not; MNN's FP16 export stays close to FP32."""

from __future__ import annotations

import numpy as np
import pytest

from picodet_cli.export.verify import TieTolerance, box_agreement

TIES = TieTolerance(score=0.01, floor=0.0, keep=4)


def rows(*boxes: tuple[float, float, float, float, float, float]) -> np.ndarray:
    return np.array(boxes, np.float32).reshape(-1, 6)


REF = rows((0, 0.9, 0, 0, 10, 10), (1, 0.5, 20, 20, 40, 40), (0, 0.3, 50, 50, 60, 60), (2, 0.105, 0, 30, 9, 39))


def test_identical_lists_agree():
    assert box_agreement(REF, REF.copy(), ties=TIES) == 1.0
    assert box_agreement(rows(), rows(), ties=TIES) == 1.0


def test_a_box_at_the_top_k_cutoff_may_drop_out():
    got = rows(*REF[:3], (1, 0.104, 70, 70, 80, 80))  # the last box swapped for another near-equal one
    assert box_agreement(REF, got) == 0.75
    assert box_agreement(REF, got, ties=TIES) == 1.0


def test_nms_may_keep_a_near_tie_neighbour():
    got = REF.copy()
    got[1] = (1, 0.495, 22, 22, 42, 42)  # IoU 0.82 with the reference box: past NMS's 0.6, short of 0.9
    assert box_agreement(REF, got) == 0.75
    assert box_agreement(REF, got, ties=TIES) == 1.0


def test_nms_cascades_after_a_near_tie_are_left_out():
    """Two near-equal anchors A and B: the Paddle model keeps A (and C, which A does not suppress); the
    artifact keeps B, which suppresses C. Only the near-tie differs, so nothing counts against the artifact."""
    ties = TieTolerance(score=0.01, floor=0.0, keep=100)
    ref = rows(*REF, (5, 0.9, 0, 0, 10, 10), (5, 0.85, 4, 0, 14, 10))
    got = rows(*REF, (5, 0.899, 2, 0, 12, 10))
    assert box_agreement(ref, got) == pytest.approx(4 / 6)
    assert box_agreement(ref, got, ties=ties) == 1.0
    got[-1, 1] = 0.7  # B's score really moved: A, now without a near-tie rival, counts as missed
    assert box_agreement(ref, got, ties=ties) < 1.0


@pytest.mark.parametrize(
    "change",
    [
        (1, 0.45, 20, 20, 40, 40),  # score moved past the tolerance
        (2, 0.5, 20, 20, 40, 40),  # another class
        (1, 0.5, 30, 30, 50, 50),  # another place (IoU 0.14)
        (1, 0.495, 22, 22, 42, 42, 0.2),  # a neighbour, but its score moved too much
    ],
)
def test_real_divergence_still_counts(change: tuple[float, ...]):
    got = REF.copy()
    got[1] = change[:6]
    if len(change) > 6:
        got[1, 1] -= change[6]
    assert box_agreement(REF, got, ties=TIES) == 0.75


def test_a_missing_confident_box_counts():
    assert box_agreement(REF, REF[[0, 2, 3]], ties=TIES) == 0.75


@pytest.mark.slow
def test_broken_fp16_artifact_fails_box_agreement(golden_fp16_export, golden_model, tmp_path):
    """FP16 is judged by box agreement only: class biases shifted by 0.2 after export must still fail it."""
    import onnx
    from onnx import numpy_helper

    from picodet_cli.export.deploy_graph import build_export_layer
    from picodet_cli.export.metadata import read_onnx_metadata
    from picodet_cli.export.verify import reference_outputs, verification_inputs, verify_artifact
    from picodet_cli.runtimes.registry import Artifact

    out, _ = golden_fp16_export
    model = onnx.load(str(out / "onnx" / "model.onnx"))
    meta = read_onnx_metadata({p.key: p.value for p in model.metadata_props}) | {"fp16": True}
    feeds = verification_inputs(320, "none")
    reference = reference_outputs(build_export_layer(golden_model, "none"), feeds)
    assert verify_artifact(
        Artifact("onnx", "onnxruntime", out / "onnx" / "model.onnx"), meta, feeds, reference, "fp16"
    ).ok
    for conv in [n for n in model.graph.node if n.op_type == "Conv"][-4:]:  # the last level's head convs
        init = next(i for i in model.graph.initializer if i.name == conv.input[2])
        bias = numpy_helper.to_array(init).copy()
        if len(bias) >= 80:
            bias[:80] += 0.2
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    check = verify_artifact(Artifact("onnx", "onnxruntime", broken), meta, feeds, reference, "fp16")
    assert not check.ok and any(f.startswith("boxes diverged on the image input") for f in check.failures)


def test_mnn_fp16_weights_are_rounded_to_nearest(tmp_path):
    """MNN's converter truncates to half; the copy it reads already holds halves, so truncation is exact."""
    import onnx
    from onnx import helper, numpy_helper

    from picodet_cli.export.mnn import round_weights_to_half

    values = np.array([0.1, -0.1, 1 / 3, 70000.0, 1e-8], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])], "g", [], [helper.make_tensor_value_info("y", 1, [5])],
        [numpy_helper.from_array(values, "w")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), str(tmp_path / "in.onnx"))
    out = onnx.load(str(round_weights_to_half(tmp_path / "in.onnx", tmp_path / "out.onnx")))
    got = numpy_helper.to_array(out.graph.initializer[0])
    assert got.dtype == np.float32 and got[3] == 70000.0  # out of half range: left alone
    assert np.array_equal(got[[0, 1, 2, 4]], values[[0, 1, 2, 4]].astype(np.float16).astype(np.float32))
