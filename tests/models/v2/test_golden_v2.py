"""PicoDet v2 inference against the upstream goldens: features, head outputs, decoding and NMS.

Tolerances. Upstream-init weights and every component fed with the reference's own inputs: atol 1e-4 + rtol 1e-4
(measured: about 1e-6 relative). End to end with the perturbed weights, float32 rounding is amplified through
the network (BN scales up to 1.5, the head refitted to logit std 1.5): the reference's own logits are up to
7e-4 from a float64 evaluation of the same network and its NMS boxes up to 0.03 px, so end-to-end comparisons
use NOISE tolerances of that size (measured here: logits 7e-4, boxes 0.011 px, scores 1.3e-4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from picodet_cli.models.v2.postprocess import decode_logits, postprocess_deploy, postprocess_logits

from .helpers import LEVELS, arrays, match_rows, model_for, per_level

TOL = {"atol": 1e-4, "rtol": 1e-4}
NOISE_LOGITS = {"atol": 2e-3, "rtol": 1e-4}
NOISE_BOX_PX = 0.05
NOISE_SCORE = 5e-4
HEAD_PREFIXES = ("cls_logits_l", "bbox_reg_l", "align_logits_l")


def _forward(model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every intermediate the reference stores, by its key."""
    model.eval()
    with paddle.no_grad():
        backbone, fpn = model.features(paddle.to_tensor(image))
        towers = [model.head.level_features(f, i) for i, f in enumerate(fpn)]
        heads = model.head_outputs(paddle.to_tensor(image))
    got = {f"backbone_feat_{i}": t for i, t in enumerate(backbone)}
    got |= {f"fpn_feat_l{i}": t for i, t in enumerate(fpn)}
    got |= {f"head_cls_feat_l{i}": c for i, (c, _) in enumerate(towers)}
    got |= {f"head_se_feat_l{i}": s for i, (_, s) in enumerate(towers)}
    for prefix, tensors in zip(HEAD_PREFIXES, heads, strict=True):
        got |= {f"{prefix}{i}": t for i, t in enumerate(tensors)}
    return {k: v.numpy() for k, v in got.items()}


def _compare(got: dict[str, np.ndarray], ref: dict[str, np.ndarray], keys: list[str], tol: dict, where: str) -> None:
    assert keys, f"{where}: nothing to compare"
    for key in keys:
        np.testing.assert_allclose(got[key], ref[key], **tol, err_msg=f"{where}: {key}")


def test_upstream_init_features_and_head_outputs(golden_v2_dirs: list[Path]) -> None:
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io.npz")
        got = _forward(model_for(folder, "weights.pdparams"), ref["image"])
        keys = [k for k in got if k in ref]
        assert {"fpn_feat_l3", "cls_logits_l0", "align_logits_l3"} <= set(keys)
        _compare(got, ref, keys, TOL, f"{folder.name}/io.npz")


def test_components_on_the_reference_inputs(golden_v2_dirs: list[Path]) -> None:
    """Perturbed weights, each part fed with the reference's own input: neck (when the folder keeps the backbone
    features), head towers and SE, the 1x1 convs and the align branch."""
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io_perturbed.npz")
        model = model_for(folder, "weights_perturbed.pdparams")
        model.eval()
        got: dict[str, np.ndarray] = {}
        with paddle.no_grad():
            if "backbone_feat_0" in ref:
                fpn = model.neck([paddle.to_tensor(ref[f"backbone_feat_{i}"]) for i in range(3)])
                got |= {f"fpn_feat_l{i}": t.numpy() for i, t in enumerate(fpn)}
            heads = model.head([paddle.to_tensor(f) for f in per_level(ref, "fpn_feat_l")])
            for prefix, tensors in zip(HEAD_PREFIXES, heads, strict=True):
                got |= {f"{prefix}{i}": t.numpy() for i, t in enumerate(tensors)}
            for i in range(LEVELS):
                cls_feat, se_feat = model.head.level_features(paddle.to_tensor(ref[f"fpn_feat_l{i}"]), i)
                got |= {f"head_cls_feat_l{i}": cls_feat.numpy(), f"head_se_feat_l{i}": se_feat.numpy()}
        keys = [k for k in got if k in ref]
        assert {"cls_logits_l0", "bbox_reg_l0", "align_logits_l0"} <= set(keys)
        _compare(got, ref, keys, TOL, f"{folder.name}/io_perturbed.npz (reference inputs)")


def test_perturbed_end_to_end_within_float32_noise(golden_v2_dirs: list[Path]) -> None:
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io_perturbed.npz")
        got = _forward(model_for(folder, "weights_perturbed.pdparams"), ref["image"])
        keys = [k for k in got if k in ref and k.startswith((*HEAD_PREFIXES, "fpn_feat_l"))]
        _compare(got, ref, keys, NOISE_LOGITS, f"{folder.name}/io_perturbed.npz (end to end)")


def test_decoding_of_the_reference_logits(golden_v2_dirs: list[Path]) -> None:
    """Scores, softmax-integral distances and every decoded box (no top-k, no clipping) from upstream's logits."""
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io_perturbed.npz")
        logits = [per_level(ref, p) for p in HEAD_PREFIXES]
        strides = model_for(folder).strides
        boxes, scores = decode_logits(*logits, strides, 7, ref["scale_factor"])
        np.testing.assert_allclose(boxes, ref["decoded_boxes_rescaled"], atol=1e-3)
        if "scores" in ref:
            np.testing.assert_allclose(scores, ref["scores"], atol=1e-6)
        bbox, bbox_num = postprocess_logits(*logits, strides, 7, ref["scale_factor"])
        np.testing.assert_array_equal(bbox_num, ref["bbox_num"])
        score_diff, coord_diff = match_rows(bbox, ref["bbox"])
        assert score_diff <= 1e-5 and coord_diff <= 1e-3, (score_diff, coord_diff)
        low, low_num = postprocess_logits(*logits, strides, 7, ref["scale_factor"], score_threshold=0.0)
        np.testing.assert_array_equal(low_num, ref["bbox_num_lowthr"])
        score_diff, coord_diff = match_rows(low, ref["bbox_lowthr"])
        assert score_diff <= 1e-5 and coord_diff <= 1e-3, (score_diff, coord_diff)


def test_detect_matches_upstream_nms(golden_v2_dirs: list[Path]) -> None:
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io_perturbed.npz")
        model = model_for(folder, "weights_perturbed.pdparams")
        model.eval()
        bbox, bbox_num = model.detect(ref["image"], ref["im_shape"], ref["scale_factor"])
        np.testing.assert_array_equal(bbox_num, ref["bbox_num"])
        score_diff, coord_diff = match_rows(bbox, ref["bbox"])
        assert score_diff <= NOISE_SCORE and coord_diff <= NOISE_BOX_PX, (score_diff, coord_diff)


def test_upstream_init_scores_all_tie(golden_v2_dirs: list[Path]) -> None:
    """Spec pitfall: with upstream init every score is sqrt(0.01 * 0.5 + 1e-9), so NMS keeps 100 tied boxes."""
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io.npz")
        model = model_for(folder, "weights.pdparams")
        model.eval()
        bbox, bbox_num = model.detect(ref["image"], ref["im_shape"], ref["scale_factor"])
        np.testing.assert_array_equal(bbox_num, ref["bbox_num"])
        np.testing.assert_allclose(bbox[:, 1], np.sqrt(0.01 * 0.5 + 1e-9), rtol=1e-5)
        np.testing.assert_allclose(ref["bbox"][:, 1], np.sqrt(0.01 * 0.5 + 1e-9), rtol=1e-5)


def test_deploy_layout_gives_the_same_detections(golden_v2_dirs: list[Path]) -> None:
    """forward() is upstream's `_non_postprocess` layout: per level scores [N, h*w, C] (the v2 formula) then box
    logits [N, h*w, 32]; decoding it gives what detect() gives."""
    for folder in golden_v2_dirs:
        ref = arrays(folder, "io_perturbed.npz")
        model = model_for(folder, "weights_perturbed.pdparams")
        model.eval()
        with paddle.no_grad():
            outputs = [t.numpy() for t in model(paddle.to_tensor(ref["image"]))]
        scores, boxes = outputs[:LEVELS], outputs[LEVELS:]
        for level in range(LEVELS):
            n, _, h, w = ref[f"cls_logits_l{level}"].shape
            assert scores[level].shape == (n, h * w, 80) and boxes[level].shape == (n, h * w, 32)
        size = tuple(ref["image"].shape[2:])
        bbox, bbox_num = postprocess_deploy(scores, boxes, size, model.strides, 7, ref["scale_factor"])
        expected, expected_num = model.detect(ref["image"], ref["im_shape"], ref["scale_factor"])
        np.testing.assert_array_equal(bbox_num, expected_num)
        score_diff, coord_diff = match_rows(bbox, expected)
        assert score_diff <= 1e-6 and coord_diff <= 1e-4, (score_diff, coord_diff)


@pytest.mark.parametrize("size", [320, 416])
def test_level_sizes_follow_the_stride_chain(size: int) -> None:
    """S=416 gives 52/26/13/7 cells (the stride-64 level rounds up) and the decode handles the odd sizes."""
    from picodet_cli.models.registry import build_model

    model = build_model("s-416-v2", input_size=size)
    model.eval()
    image = np.random.RandomState(1).standard_normal((1, 3, size, size)).astype(np.float32)
    with paddle.no_grad():
        cls, reg, align = model.head_outputs(paddle.to_tensor(image))
    expected = [-(-size // s) for s in (8, 16, 32, 64)]
    assert [c.shape[2] for c in cls] == expected == [a.shape[3] for a in align]
    assert [r.shape[1] for r in reg] == [32] * 4
    bbox, bbox_num = model.detect(image, np.array([[size, size]]), np.array([[1.0, 1.0]]), score_threshold=0.0)
    assert bbox_num[0] == len(bbox) == 100
