"""Training losses: SimOTA assignment and VFL/GIoU/DFL against the upstream golden train steps, plus unit cases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from picodet_cli.losses import assign_targets, compute_losses
from picodet_cli.losses.gfl import bbox2distance, distribution_focal_loss, distribution_project, giou_loss
from picodet_cli.losses.simota import _lowest_k_mask, pairwise_iou_and_giou_cost, vfl_cost
from picodet_cli.losses.vfl import varifocal_loss

LOSS_KEYS = ("loss_vfl", "loss_bbox", "loss_dfl", "loss")
LOSS_RTOL = 1e-4


@dataclass
class TrainStep:
    """One `train_step*.npz`: head outputs (as fresh leaf tensors), GTs and the upstream results."""

    name: str
    data: dict[str, np.ndarray]

    @property
    def num_images(self) -> int:
        return self.data["train_cls_logits_l0"].shape[0]

    def head_outputs(self) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        levels = sum(k.startswith("train_cls_logits_l") for k in self.data)
        cls = [paddle.to_tensor(self.data[f"train_cls_logits_l{i}"], stop_gradient=False) for i in range(levels)]
        reg = [paddle.to_tensor(self.data[f"train_bbox_reg_l{i}"], stop_gradient=False) for i in range(levels)]
        return cls, reg

    def gts(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        n = self.num_images
        return [self.data[f"gt_bbox_{b}"] for b in range(n)], [self.data[f"gt_class_{b}"] for b in range(n)]


@pytest.fixture(scope="module")
def train_steps(golden_dirs: list[Path]) -> list[TrainStep]:
    steps = [
        TrainStep(f"{d.name}/{p.name}", dict(np.load(p)))
        for d in golden_dirs
        for p in sorted(d.glob("train_step*.npz"))
        if "train_cls_logits_l0" in np.load(p)  # the trimmed fixtures keep the head outputs of one step
    ]
    assert steps, "no train_step*.npz in the golden folders"
    return steps


def test_assignments_match_golden(train_steps: list[TrainStep]) -> None:
    for step in train_steps:
        cls, reg = step.head_outputs()
        results = assign_targets(cls, reg, *step.gts())
        for b, result in enumerate(results):
            where = f"{step.name} image {b}"
            np.testing.assert_array_equal(result.labels, step.data[f"assign_labels_{b}"], err_msg=where)
            np.testing.assert_array_equal(result.label_weights, step.data[f"assign_label_weights_{b}"], err_msg=where)
            np.testing.assert_allclose(
                result.bbox_targets, step.data[f"assign_bbox_targets_{b}"], rtol=0, atol=1e-3, err_msg=where
            )
            assert result.pos_num == int(step.data[f"assign_pos_num_{b}"]), where


def test_losses_match_golden(train_steps: list[TrainStep]) -> None:
    for step in train_steps:
        cls, reg = step.head_outputs()
        losses = compute_losses(cls, reg, *step.gts())
        for key in LOSS_KEYS:
            got, want = float(losses[key]), float(step.data[key])
            assert abs(got - want) <= LOSS_RTOL * abs(want), f"{step.name} {key}: {got} vs {want}"


def test_gradients_reach_the_logits(train_steps: list[TrainStep]) -> None:
    cls, reg = train_steps[-1].head_outputs()
    compute_losses(cls, reg, *train_steps[-1].gts())["loss"].backward()
    for tensor in (*cls, *reg):
        grad = tensor.grad.numpy()
        assert np.isfinite(grad).all()
    assert all(np.abs(t.grad.numpy()).sum() > 0 for t in cls)
    assert sum(np.abs(t.grad.numpy()).sum() for t in reg) > 0


def test_gt_formats_are_interchangeable(train_steps: list[TrainStep]) -> None:
    step = train_steps[0]
    cls, reg = step.head_outputs()
    boxes, classes = step.gts()
    as_numpy = compute_losses(cls, reg, boxes, classes)
    as_tensors = compute_losses(
        cls, reg, [paddle.to_tensor(b) for b in boxes], [paddle.to_tensor(c[:, 0]) for c in classes]
    )
    for key in LOSS_KEYS:
        assert float(as_numpy[key]) == float(as_tensors[key])


def test_image_without_gt_is_background(train_steps: list[TrainStep]) -> None:
    step = train_steps[-1]
    cls, reg = step.head_outputs()
    boxes, classes = step.gts()
    empty_boxes, empty_classes = np.zeros((0, 4), np.float32), np.zeros((0, 1), np.int32)
    results = assign_targets(cls, reg, [boxes[0], empty_boxes], [classes[0], empty_classes])
    assert (results[1].labels == 80).all() and results[1].pos_num == 0
    assert not results[1].bbox_targets.any()

    losses = compute_losses(cls, reg, [boxes[0], empty_boxes], [classes[0], empty_classes])
    assert all(math.isfinite(float(losses[k])) for k in LOSS_KEYS)
    losses["loss"].backward()
    assert np.abs(cls[0].grad.numpy()[1]).sum() > 0  # background-only image still trains its classifier


def test_batch_without_gt_has_no_box_losses(train_steps: list[TrainStep]) -> None:
    cls, reg = train_steps[-1].head_outputs()
    empty = [np.zeros((0, 4), np.float32)] * len(cls[0])
    losses = compute_losses(cls, reg, empty, [np.zeros((0,), np.int64)] * len(cls[0]))
    assert float(losses["loss_bbox"]) == 0.0 and float(losses["loss_dfl"]) == 0.0
    assert float(losses["loss_vfl"]) > 0.0
    losses["loss"].backward()
    assert np.isfinite(cls[0].grad.numpy()).all()


def test_degenerate_gts_do_not_crash(train_steps: list[TrainStep]) -> None:
    cls, reg = train_steps[-1].head_outputs()
    boxes = [
        np.array([[20, 30, 120, 200], [1000, 1000, 1010, 1010], [50, 50, 50, 80]], np.float32),  # normal, outside, flat
        np.array([[5, 5, 9, 9]], np.float32),  # tiny box
    ]
    classes = [np.array([1, 2, 3]), np.array([4])]
    results = assign_targets(cls, reg, boxes, classes)
    assert (results[0].labels == 1).sum() >= 1 and (results[1].labels == 4).sum() >= 1
    losses = compute_losses(cls, reg, boxes, classes)
    assert all(math.isfinite(float(losses[k])) for k in LOSS_KEYS)


def test_num_pos_reduce_hook_scales_normalisers(train_steps: list[TrainStep]) -> None:
    step = train_steps[-1]
    cls, reg = step.head_outputs()
    base = compute_losses(cls, reg, *step.gts())
    halved = compute_losses(cls, reg, *step.gts(), num_pos_reduce=lambda x: x * 2.0)
    for key in ("loss_vfl", "loss_bbox", "loss_dfl"):
        np.testing.assert_allclose(float(halved[key]), float(base[key]) / 2.0, rtol=1e-6)


def test_varifocal_loss_hand_computed() -> None:
    logits = paddle.to_tensor([[0.0, 2.0]])
    target = paddle.to_tensor([[0.5, 0.0]])
    got = varifocal_loss(logits, target).numpy()[0]
    sig2 = 1.0 / (1.0 + math.exp(-2.0))
    np.testing.assert_allclose(got, [0.5 * math.log(2.0), math.log(1.0 + math.exp(2.0)) * 0.75 * sig2**2], rtol=1e-6)


def test_giou_loss_hand_computed() -> None:
    pred = paddle.to_tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    target = paddle.to_tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 3.0, 1.0]])
    # overlap 1, union 7, hull 9 | identical | disjoint: union 2, hull 3
    np.testing.assert_allclose(
        giou_loss(pred, target).numpy(), [1 - 1 / 7 + 2 / 9, 0.0, 1 + 1 / 3], rtol=1e-6, atol=1e-7
    )


def test_distribution_focal_loss_hand_computed() -> None:
    logits = paddle.zeros([2, 8])
    logits[1, 1] = math.log(3.0)  # softmax: bin 1 = 3/10, others 1/10
    got = distribution_focal_loss(logits, paddle.to_tensor([2.3, 1.0])).numpy()
    np.testing.assert_allclose(got, [math.log(8.0), math.log(10.0 / 3.0)], rtol=1e-6)


def test_box_distribution_helpers() -> None:
    np.testing.assert_allclose(distribution_project(paddle.zeros([3, 32])).numpy(), np.full((3, 4), 3.5), rtol=1e-6)
    dist = bbox2distance(paddle.to_tensor([[5.0, 5.0]]), paddle.to_tensor([[0.0, 0.0, 20.0, 6.0]]), reg_max=7)
    np.testing.assert_allclose(dist.numpy(), [[5.0, 5.0, 6.9, 1.0]], rtol=1e-6)


def test_vfl_cost_equals_dense_sum_over_classes() -> None:
    rng = np.random.default_rng(0)
    probs = rng.uniform(1e-4, 1 - 1e-4, (30, 80)).astype(np.float32)
    gt_boxes = np.array([[10, 10, 60, 80], [40, 20, 90, 50], [0, 0, 20, 20]], np.float32)
    boxes = np.concatenate([rng.uniform(0, 50, (30, 2)), rng.uniform(60, 100, (30, 2))], axis=1).astype(np.float32)
    labels = np.array([3, 17, 3])
    ious, _ = pairwise_iou_and_giou_cost(gt_boxes, boxes)
    assert (ious > 0).any() and (ious == 0).any()
    target = np.zeros((3, 30, 80), np.float32)
    target[np.arange(3)[:, None], np.arange(30)[None, :], labels[:, None]] = ious
    pred = paddle.to_tensor(np.broadcast_to(probs, (3, 30, 80)).copy())
    weight = np.where(target > 0, target, 0.75 * (np.broadcast_to(probs, target.shape) - target) ** 2)
    dense = (F.binary_cross_entropy(pred, paddle.to_tensor(target), reduction="none").numpy() * weight).sum(-1)
    np.testing.assert_allclose(vfl_cost(probs, ious, labels), dense, rtol=1e-5)


def test_exact_ties_follow_paddle_topk() -> None:
    cost = np.array(
        [[3.0, 1.0, 2.0, 2.0, 2.0, 5.0], [1e8, 1e8, 4.0, 1e8, 1e8, 1e8], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]], np.float32
    )
    ks = np.array([3, 3, 2])
    mask = _lowest_k_mask(cost, ks)
    for g, k in enumerate(ks):
        _, idx = paddle.topk(paddle.to_tensor(cost[g]), k=int(k), largest=False)
        assert set(np.flatnonzero(mask[g])) == set(idx.numpy().tolist())
