"""The model's own training step: compute_losses on the golden batch equals the original's losses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from picodet_cli.hub.safe_load import load_state_dict
from picodet_cli.models.loading import load_weights
from picodet_cli.models.registry import build_model

FIXTURES = [("weights.pdparams", "train_step.npz"), ("weights_train.pdparams", "train_step_train.npz")]


@pytest.mark.parametrize(("weights", "step"), FIXTURES)
def test_compute_losses_matches_golden_train_step(golden_dirs: list[Path], weights: str, step: str):
    for folder in golden_dirs:
        if not (folder / step).is_file():
            continue
        meta = json.loads((folder / "meta.json").read_text())
        model = build_model(meta["model"].replace("picodet_", "").replace("_", "-"))
        load_weights(model, load_state_dict(folder / weights))
        model.train()
        data = np.load(folder / step)
        num_images = data["image"].shape[0]
        losses = model.compute_losses(
            paddle.to_tensor(data["image"]),
            [data[f"gt_bbox_{i}"] for i in range(num_images)],
            [data[f"gt_class_{i}"] for i in range(num_images)],
        )
        for key in ("loss_vfl", "loss_bbox", "loss_dfl", "loss"):
            np.testing.assert_allclose(float(losses[key]), float(data[key]), rtol=1e-4, err_msg=f"{folder.name} {key}")
        losses["loss"].backward()
        grad = model.head.head_cls0.weight.grad
        assert grad is not None and np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).max() > 0
