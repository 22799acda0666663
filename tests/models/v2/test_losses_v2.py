"""PicoDet v2 training targets and losses against the upstream golden train steps (both assigner phases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from picodet_cli.models.v2 import loss as v2_loss
from picodet_cli.models.v2.assigners import atss_assign, grid_cell_anchors, task_aligned_assign
from picodet_cli.models.v2.head import scores as v2_scores

from .helpers import LEVELS, arrays, model_for

PHASES = {"atss": 0, "tal": 100}  # epoch_id the generator passed; static_assigner_epoch is 100
LOSS_KEYS = ("loss_vfl", "loss_bbox", "loss_dfl", "loss")
WEIGHTS = {
    "train_step.npz": "weights.pdparams",
    "train_step_perturbed.npz": "weights_perturbed.pdparams",
    "train_step_train.npz": "weights_train.pdparams",
}


def _gts(step: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    n = step["image"].shape[0]
    return [step[f"gt_bbox_{b}"] for b in range(n)], [step[f"gt_class_{b}"] for b in range(n)]


def _head_outputs(step: dict[str, np.ndarray]) -> list[list[paddle.Tensor]]:
    return [
        [paddle.to_tensor(step[f"train_{name}_l{i}"], stop_gradient=False) for i in range(LEVELS)]
        for name in ("cls_logits", "bbox_reg", "align_logits")
    ]


def _steps_with_logits(golden_v2_dirs: list[Path]) -> list[tuple[str, dict[str, np.ndarray]]]:
    steps = [
        (f"{d.name}/{p.name}", arrays(d, p.name))
        for d in golden_v2_dirs
        for p in sorted(d.glob("train_step*.npz"))
        if "train_cls_logits_l0" in np.load(p).files
    ]
    assert steps, "no train step keeps its head outputs"
    return steps


def test_train_boxes_are_decoded_in_stride_units(golden_v2_dirs: list[Path]) -> None:
    for name, step in _steps_with_logits(golden_v2_dirs):
        cls, reg, _ = _head_outputs(step)
        anchors = grid_cell_anchors([tuple(c.shape[2:]) for c in cls], (8, 16, 32, 64))
        boxes = v2_loss._decode_train(reg, (8, 16, 32, 64), 7, anchors)
        np.testing.assert_allclose(boxes.numpy(), step["train_pred_bboxes"], atol=1e-5, err_msg=name)


@pytest.mark.parametrize("phase", list(PHASES))
def test_assignments_match_golden(golden_v2_dirs: list[Path], phase: str) -> None:
    """Labels exactly, assigned GT boxes of the positives exactly, soft targets and their sum to float rounding."""
    for name, step in _steps_with_logits(golden_v2_dirs):
        cls, reg, align = _head_outputs(step)
        anchors = grid_cell_anchors([tuple(c.shape[2:]) for c in cls], (8, 16, 32, 64))
        pixels = v2_loss._decode_train(reg, (8, 16, 32, 64), 7, anchors).detach() * anchors.strides
        boxes, labels, mask = v2_loss._pad_gts(*_gts(step))
        if phase == "atss":
            assigned = atss_assign(anchors, labels, boxes, mask, pixels, 80, 80)
        else:
            scores = paddle.concat([v2_loss._rows(v2_scores(c, a)) for c, a in zip(cls, align, strict=True)], axis=1)
            assigned = task_aligned_assign(scores, pixels, anchors.points, labels, boxes, mask, 80, 80)
        for b in range(step["image"].shape[0]):
            ref_labels = step[f"{phase}_assign_labels_{b}"]
            np.testing.assert_array_equal(assigned.labels[b].numpy(), ref_labels, err_msg=f"{name} {phase} {b}")
            positive = ref_labels < 80
            assert positive.any()
            np.testing.assert_array_equal(
                assigned.boxes[b].numpy()[positive], step[f"{phase}_assign_bboxes_{b}"][positive]
            )
            np.testing.assert_allclose(
                assigned.scores[b].numpy().max(axis=-1), step[f"{phase}_assign_scores_{b}"], atol=1e-5
            )
        np.testing.assert_allclose(float(assigned.scores.sum()), float(step[f"{phase}_avg_factor"]), rtol=1e-5)


@pytest.mark.parametrize("phase", list(PHASES))
def test_losses_from_golden_head_outputs(golden_v2_dirs: list[Path], phase: str) -> None:
    for name, step in _steps_with_logits(golden_v2_dirs):
        cls, reg, align = _head_outputs(step)
        losses = v2_loss.compute_losses(cls, reg, align, *_gts(step), epoch=PHASES[phase])
        for key in LOSS_KEYS:
            expected = float(step[f"{phase}_{key}"])
            np.testing.assert_allclose(float(losses[key]), expected, rtol=1e-5, err_msg=f"{name} {phase} {key}")
        losses["loss"].backward()
        for tensors in (cls, reg, align):  # VFL flows through the sqrt score into both cls and align
            grads = [t.grad.numpy() for t in tensors]
            assert all(np.isfinite(g).all() for g in grads) and max(np.abs(g).max() for g in grads) > 0


@pytest.mark.parametrize("phase", list(PHASES))
def test_model_compute_losses_matches_golden(golden_v2_dirs: list[Path], phase: str) -> None:
    """The whole training forward (train-mode BN) + assignment + losses, for every weight file."""
    for folder in golden_v2_dirs:
        for step_name, weights in WEIGHTS.items():
            if not (folder / step_name).is_file():
                continue
            step = arrays(folder, step_name)
            model = model_for(folder, weights)
            model.train()
            losses = model.compute_losses(paddle.to_tensor(step["image"]), *_gts(step), epoch=PHASES[phase])
            for key in LOSS_KEYS:
                expected = float(step[f"{phase}_{key}"])
                got = float(losses[key])
                np.testing.assert_allclose(got, expected, rtol=1e-4, err_msg=f"{folder.name}/{step_name} {phase} {key}")
            losses["loss"].backward()
            for param in (
                model.head.head_cls0.weight,
                model.head.cls_align[0].dwconv.weight,
                model.backbone.conv1.conv.weight,
            ):
                assert param.grad is not None and np.isfinite(param.grad.numpy()).all()


def test_static_assigner_epoch_switches_the_phase(golden_v2_dirs: list[Path]) -> None:
    name, step = _steps_with_logits(golden_v2_dirs)[0]
    cls, reg, align = _head_outputs(step)
    for epoch, phase in ((99, "atss"), (100, "tal"), (5, "tal")):
        options = {"static_assigner_epoch": 5} if epoch == 5 else {}
        losses = v2_loss.compute_losses(cls, reg, align, *_gts(step), epoch=epoch, **options)
        np.testing.assert_allclose(float(losses["loss"]), float(step[f"{phase}_loss"]), rtol=1e-5, err_msg=name)


def _random_head(batch: int, size: int, seed: int = 0) -> list[list[paddle.Tensor]]:
    rs = np.random.RandomState(seed)
    shapes = [-(-size // s) for s in (8, 16, 32, 64)]
    return [
        [
            paddle.to_tensor(rs.standard_normal((batch, ch, h, h)).astype(np.float32), stop_gradient=False)
            for h in shapes
        ]
        for ch in (80, 32, 1)
    ]


def test_images_without_objects() -> None:
    """An image without GT boxes is all background; a batch without any gives finite losses (upstream would divide
    by a zero sum of soft targets) with zero box and DFL terms."""
    cls, reg, align = _random_head(2, 320)
    boxes = [np.array([[20, 30, 120, 200]], np.float32), np.zeros((0, 4), np.float32)]
    classes = [np.array([3]), np.zeros((0,), np.int64)]
    for epoch in (0, 100):
        losses = v2_loss.compute_losses(cls, reg, align, boxes, classes, epoch=epoch)
        assert all(np.isfinite(float(losses[k])) for k in LOSS_KEYS)
        empty = v2_loss.compute_losses(cls, reg, align, [boxes[1]] * 2, [classes[1]] * 2, epoch=epoch)
        assert np.isfinite(float(empty["loss"])) and float(empty["loss_vfl"]) > 0
        assert float(empty["loss_bbox"]) == 0.0 and float(empty["loss_dfl"]) == 0.0
        empty["loss"].backward()


def test_tiny_inputs_with_fewer_anchors_than_top_k() -> None:
    """At 128 px the stride-64 level has 2x2 cells, fewer than ATSS's 9 per level: all of them are candidates."""
    cls, reg, align = _random_head(1, 128)
    boxes, classes = [np.array([[10, 10, 120, 100], [40, 40, 60, 70]], np.float32)], [np.array([[1], [2]])]
    for epoch in (0, 100):
        losses = v2_loss.compute_losses(cls, reg, align, boxes, classes, epoch=epoch)
        assert all(np.isfinite(float(losses[k])) for k in LOSS_KEYS)


def test_data_parallel_divisor_is_reduced_and_clipped() -> None:
    """With `num_pos_reduce` (data-parallel) the divisor is the reduced sum of soft targets, clipped to >= 1."""
    cls, reg, align = _random_head(1, 320)
    boxes, classes = [np.array([[20, 30, 120, 200]], np.float32)], [np.array([0])]
    seen: list[float] = []

    def constant(value: float):
        def reduce(local: paddle.Tensor) -> paddle.Tensor:
            seen.append(float(local))
            return local * 0.0 + value

        return reduce

    single = float(v2_loss.compute_losses(cls, reg, align, boxes, classes)["loss"])
    by_four = float(v2_loss.compute_losses(cls, reg, align, boxes, classes, num_pos_reduce=constant(4.0))["loss"])
    by_eight = float(v2_loss.compute_losses(cls, reg, align, boxes, classes, num_pos_reduce=constant(8.0))["loss"])
    clipped = float(v2_loss.compute_losses(cls, reg, align, boxes, classes, num_pos_reduce=constant(0.25))["loss"])
    assert seen[0] > 0 and single * seen[0] == pytest.approx(4 * by_four, rel=1e-5)  # the local sum was reduced
    assert by_eight == pytest.approx(by_four / 2, rel=1e-6)
    assert clipped == pytest.approx(4 * by_four, rel=1e-6)
