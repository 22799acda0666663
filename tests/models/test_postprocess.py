"""Decoding and NMS against the goldens, the deploy layout, and Paddle's multiclass_nms3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.models.postprocess import (
    anchor_centers,
    decode_all,
    decode_v1,
    distribution_to_distance,
    multiclass_nms,
    postprocess_deploy,
    postprocess_logits,
    sigmoid,
)

STRIDES = (8, 16, 32, 64)
REG_MAX = 7
NMS_PRE = 1000


@pytest.fixture(scope="module")
def goldens(golden_dirs: list[Path]) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(name, arrays) for io.npz and io_perturbed.npz of every golden model."""
    cases = []
    for folder in golden_dirs:
        for name in ("io.npz", "io_perturbed.npz"):
            with np.load(folder / name) as data:
                cases.append((f"{folder.name}/{name}", dict(data)))
    return cases


def _logits(d: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    levels = range(len(STRIDES))
    return [d[f"cls_logits_l{i}"] for i in levels], [d[f"bbox_reg_l{i}"] for i in levels]


def _deploy(cls: list[np.ndarray], reg: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """NCHW logits → exported layout: sigmoid scores [N, h·w, C] and box logits [N, h·w, 32]."""
    rows = [x.reshape(*x.shape[:2], -1).transpose(0, 2, 1) for x in (*cls, *reg)]
    return [sigmoid(s) for s in rows[: len(cls)]], rows[len(cls) :]


def _degenerate(d: dict[str, np.ndarray]) -> bool:
    """Untrained-init golden: every score is 0.01 up to float noise, so NMS picks are noise."""
    return float(np.ptp(d["full_scores"])) < 1e-6


def _sorted_rows(bbox: np.ndarray) -> np.ndarray:
    return bbox[np.lexsort(bbox.T[::-1])]


def _assert_same_detections(got: np.ndarray, want: np.ndarray) -> None:
    """Same count and classes; coordinates within 1e-2 px, scores within 1e-4 (rows compared sorted)."""
    assert got.shape == want.shape
    got, want = _sorted_rows(got), _sorted_rows(want)
    np.testing.assert_array_equal(got[:, 0], want[:, 0])
    np.testing.assert_allclose(got[:, 1], want[:, 1], atol=1e-4)
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], atol=1e-2)


def _assert_same_anchors(
    got_b: np.ndarray, got_s: np.ndarray, want_b: np.ndarray, want_s: np.ndarray, was_cut: bool
) -> None:
    """Rows [M, 4] / [C, M] equal in order; for a top-k cut level with tied max scores, equal as sets above the cut.

    Paddle's top-k orders exact ties differently (and may pick other anchors at the cut), so rows
    tied with the smallest kept score are only counted; the others are paired by nearest box.
    """
    got_max, want_max = got_s.max(axis=0), want_s.max(axis=0)
    np.testing.assert_allclose(np.sort(got_max), np.sort(want_max), atol=1e-5)
    if not was_cut or np.unique(want_max).size == want_max.size:
        np.testing.assert_allclose(got_b, want_b, atol=1e-2)
        np.testing.assert_allclose(got_s, want_s, atol=1e-5)
        return
    cut = want_max.min()
    got_b, got_s, want_b, want_s = (
        got_b[got_max > cut],
        got_s[:, got_max > cut],
        want_b[want_max > cut],
        want_s[:, want_max > cut],
    )
    assert 0 < len(got_b) == len(want_b)
    nearest = np.abs(got_b[:, None, :] - want_b[None, :, :]).max(axis=-1).argmin(axis=1)
    assert np.unique(nearest).size == len(nearest), "rows do not pair up one to one"
    np.testing.assert_allclose(got_b, want_b[nearest], atol=1e-2)
    np.testing.assert_allclose(got_s, want_s[:, nearest], atol=1e-5)


def test_anchors_and_full_decode_match_golden(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    for name, d in goldens:
        cls, reg = _logits(d)
        points, strides = anchor_centers([c.shape[2:] for c in cls], STRIDES)
        np.testing.assert_array_equal(points, d["anchor_points"], err_msg=name)
        np.testing.assert_array_equal(strides, d["anchor_strides"], err_msg=name)
        _, box_logits = _deploy(cls, reg)
        distances = distribution_to_distance(np.concatenate(box_logits, axis=1)[0], REG_MAX) * strides[:, None]
        np.testing.assert_allclose(distances, d["full_distances"], atol=1e-3, err_msg=name)
        boxes, scores = decode_all(cls, reg, STRIDES, REG_MAX)
        np.testing.assert_allclose(boxes, d["full_decoded_boxes_input_scale"], atol=1e-2, err_msg=name)
        np.testing.assert_allclose(scores, d["full_scores"], atol=1e-5, err_msg=name)
        rescaled, _ = decode_all(cls, reg, STRIDES, REG_MAX, d["scale_factor"])
        np.testing.assert_allclose(rescaled, d["full_decoded_boxes_rescaled"], atol=1e-2, err_msg=name)


def test_decode_v1_matches_golden(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    for _, d in goldens:
        cls, reg = _logits(d)
        boxes, scores = decode_v1(cls, reg, STRIDES, REG_MAX, d["im_shape"], d["scale_factor"], NMS_PRE)
        want_b, want_s = d["decoded_boxes"][0], d["decoded_scores"][0]
        assert boxes.shape == d["decoded_boxes"].shape and scores.shape == d["decoded_scores"].shape
        start = 0
        for c in cls:
            count = min(c.shape[2] * c.shape[3], NMS_PRE)
            part, was_cut = slice(start, start + count), c.shape[2] * c.shape[3] > NMS_PRE
            _assert_same_anchors(boxes[0, part], scores[0][:, part], want_b[part], want_s[:, part], was_cut)
            start += count


def test_postprocess_matches_golden(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    for name, d in goldens:
        cls, reg = _logits(d)
        for suffix, threshold in (("", 0.025), ("_lowthr", 0.0)):
            bbox, bbox_num = postprocess_logits(
                cls, reg, STRIDES, REG_MAX, d["im_shape"], d["scale_factor"], score_threshold=threshold
            )
            assert bbox.dtype == np.float32 and bbox_num.dtype == np.int32, name
            np.testing.assert_array_equal(bbox_num, d[f"bbox_num{suffix}"], err_msg=f"{name} {suffix}")
            if not _degenerate(d):
                _assert_same_detections(bbox, d[f"bbox{suffix}"])
        if _degenerate(d):
            assert bbox.shape == (int(d["bbox_num_lowthr"][0]), 6)


def test_deploy_layout_gives_identical_result(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    for name, d in goldens:
        cls, reg = _logits(d)
        threshold = 0.0 if _degenerate(d) else 0.025  # the degenerate golden has nothing above 0.025
        want = postprocess_logits(cls, reg, STRIDES, REG_MAX, d["im_shape"], d["scale_factor"], threshold)
        scores, box_logits = _deploy(cls, reg)
        input_hw = tuple(int(v) for v in d["im_shape"][0])
        got = postprocess_deploy(scores, box_logits, input_hw, STRIDES, REG_MAX, d["scale_factor"], threshold)
        assert len(got[0]) == 100, name
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=name)


def test_deploy_non_square_input_uses_ceil_grids_and_clips_to_input() -> None:
    rng = np.random.default_rng(0)
    input_hw, num_classes = (300, 420), 3
    shapes = [(-(-300 // s), -(-420 // s)) for s in STRIDES]  # ceil: (38, 53), (19, 27), (10, 14), (5, 7)
    cls = [rng.normal(-1, 2, (2, num_classes, h, w)).astype(np.float32) for h, w in shapes]
    reg = [rng.normal(0, 2, (2, 4 * (REG_MAX + 1), h, w)).astype(np.float32) for h, w in shapes]
    scale = np.array([[0.5, 0.25], [1.0, 1.0]], np.float32)
    want = postprocess_logits(cls, reg, STRIDES, REG_MAX, np.array([input_hw] * 2, np.float32), scale)
    got = postprocess_deploy(*_deploy(cls, reg), input_hw, STRIDES, REG_MAX, scale)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    bbox, bbox_num = got
    assert bbox_num.shape == (2,) and bbox_num.sum() == len(bbox) > 0
    first, second = bbox[: bbox_num[0]], bbox[bbox_num[0] :]
    assert first[:, [2, 4]].max() <= 420 / 0.25 and first[:, [3, 5]].max() <= 300 / 0.5
    assert second[:, [2, 4]].max() <= 420 and second[:, [3, 5]].max() <= 300 and bbox[:, 2:].min() >= 0


def test_deploy_rejects_wrong_input_size(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    _, d = goldens[0]
    scores, box_logits = _deploy(*_logits(d))
    with pytest.raises(PicodetError, match="anchors, expected"):
        postprocess_deploy(scores, box_logits, (416, 416), STRIDES, REG_MAX, d["scale_factor"])


def test_distribution_to_distance_is_stable() -> None:
    logits = np.zeros((2, 32), np.float32)
    logits[1, ::8] = 1e4  # bin 0 of every side, huge but finite
    logits[1, 15] = 3e4  # bin 7 of the top side wins
    distances = distribution_to_distance(logits, REG_MAX)
    assert np.isfinite(distances).all()
    np.testing.assert_allclose(distances, [[3.5] * 4, [0, 7, 0, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="expected last dim 32"):
        distribution_to_distance(np.zeros((1, 30), np.float32), REG_MAX)


def test_nms_empty_output_shapes() -> None:
    boxes = np.tile(np.array([0, 0, 10, 10], np.float32), (2, 5, 1))
    bbox, bbox_num = multiclass_nms(boxes, np.full((2, 3, 5), 0.01, np.float32))
    assert bbox.shape == (0, 6) and bbox.dtype == np.float32
    np.testing.assert_array_equal(bbox_num, [0, 0])
    assert bbox_num.dtype == np.int32


def test_nms_threshold_and_order_semantics() -> None:
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 6], [20, 20, 30, 30], [40, 40, 50, 50]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.5, 0.025], [0.3, 0.7, 0.7, 0.7]]], np.float32)
    bbox, bbox_num = multiclass_nms(boxes, scores, nms_threshold=0.6)
    # class 0: IoU(box0, box1) is exactly 0.6 → kept; score == threshold → dropped.
    # class 1: equal scores keep box order; IoU 0.6 with box1 does not suppress box0.
    np.testing.assert_array_equal(bbox[:, 0], [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(bbox[:, 1], [0.9, 0.8, 0.5, 0.7, 0.7, 0.7, 0.3])
    np.testing.assert_array_equal(bbox[3:6, 2], [0, 20, 40])
    assert bbox_num.tolist() == [7]
    # at 0.5 the 0.6 overlaps suppress; keep_top_k then takes the best 3 over both classes (ties: first kept)
    tight, _ = multiclass_nms(boxes, scores, nms_threshold=0.5, keep_top_k=3)
    np.testing.assert_allclose(tight[:, :3], [[0, 0.9, 0], [1, 0.7, 0], [1, 0.7, 20]])


def _random_case(rng: np.random.Generator, n: int, m: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes on a coarse grid (duplicates, exact-threshold IoUs, zero-area and inverted boxes) and tied scores."""
    xy = rng.integers(0, 12, (n, m, 2)).astype(np.float32)
    wh = rng.integers(-1, 6, (n, m, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=-1)
    scores = rng.choice(np.linspace(0, 1, 21, dtype=np.float32), size=(n, c, m))
    return boxes, scores


@pytest.mark.parametrize("seed", range(6))
def test_nms_matches_paddle_multiclass_nms3(seed: int) -> None:
    paddle = pytest.importorskip("paddle")
    rng = np.random.default_rng(seed)
    boxes, scores = _random_case(rng, n=2, m=int(rng.integers(20, 300)), c=int(rng.integers(1, 6)))
    if seed % 2:  # continuous values too: the float32 IoU must round like Paddle's
        boxes = boxes * np.float32(7.3) + rng.normal(0, 0.01, boxes.shape).astype(np.float32)
        scores = np.where(rng.random(scores.shape) < 0.5, scores, rng.random(scores.shape)).astype(np.float32)
    for threshold, iou, top_k, keep, normalized in [
        (0.025, 0.6, 1000, 100, True),
        (0.0, 0.5, 30, 40, True),
        (0.3, 0.0, -1, -1, False),
        (0.5, 0.7, 5, 7, False),
    ]:
        out, _, num = paddle._C_ops.multiclass_nms3(
            paddle.to_tensor(boxes), paddle.to_tensor(scores), None, threshold, top_k, keep, iou, normalized, 1.0, -1
        )
        bbox, bbox_num = multiclass_nms(boxes, scores, threshold, iou, top_k, keep, normalized)
        np.testing.assert_array_equal(bbox_num, num.numpy())
        np.testing.assert_array_equal(bbox, out.numpy().reshape(-1, 6))


def test_nms_matches_paddle_on_golden_boxes(goldens: list[tuple[str, dict[str, np.ndarray]]]) -> None:
    paddle = pytest.importorskip("paddle")
    for name, d in goldens:
        if _degenerate(d):
            continue
        boxes, scores = d["decoded_boxes"], d["decoded_scores"]
        out, _, num = paddle._C_ops.multiclass_nms3(
            paddle.to_tensor(boxes), paddle.to_tensor(scores), None, 0.025, 1000, -1, 0.6, True, 1.0, -1
        )
        bbox, bbox_num = multiclass_nms(boxes, scores, keep_top_k=-1)
        np.testing.assert_array_equal(bbox_num, num.numpy(), err_msg=name)
        np.testing.assert_array_equal(bbox, out.numpy(), err_msg=name)
