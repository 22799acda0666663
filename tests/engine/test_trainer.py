"""The trainer on a tiny generated dataset: it learns, checkpoints atomically and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.engine.checkpoint import load_checkpoint
from picodet_cli.engine.trainer import SilentReporter, Trainer
from picodet_cli.errors import PicodetError
from picodet_cli.hub.safe_load import load_state_dict
from picodet_cli.recipe.loader import default_recipes_dir, load_recipe


@pytest.fixture
def tiny_recipe(tiny_sets):
    def make(out: Path, *extra: str):
        sets = tiny_sets(out, "train.warmup_steps=2", "train.log_interval=1", "train.cosine_epochs=2",
                         "train.eval_interval=0", "train.save_interval=1", *extra)  # fmt: skip
        return load_recipe(default_recipes_dir() / "demo.toml", sets)

    return make


class StopAfter(SilentReporter):
    """Presses Ctrl-C after `steps` optimizer steps."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def step(self, trainer, values) -> None:
        if trainer.state.step == self.steps:
            raise KeyboardInterrupt


def test_trains_evaluates_and_writes_the_run_folder(tiny_recipe, tmp_path: Path):
    out = tmp_path / "run"
    result = Trainer(tiny_recipe(out, "train.epochs=2", "train.eval_interval=2")).fit()
    assert (result.epochs_done, result.steps, result.interrupted) == (2, 8, False)
    losses = [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert len(losses) == 8 and np.isfinite(losses).all()
    assert result.history and 0.0 <= result.history[-1]["map50"] <= 1.0
    weights = load_state_dict(out / "weights" / "last.pdparams")
    assert "head.head_cls0.weight" in weights and weights["head.head_cls0.weight"].shape[0] == 4 + 32
    meta = json.loads((out / "weights" / "model.json").read_text())
    assert meta["class_names"] == ["circle", "square", "triangle", "star"] and meta["input_size"] == 128
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["state"].step == 8


def test_train_steps_lower_the_loss_of_a_batch(tiny_recipe, tmp_path: Path):
    """Steps on one batch lower its classification loss (the total, with new positives assigned as the model
    learns, and a new batch per step as in the test above, are too noisy over a dozen steps to judge)."""
    from picodet_cli.data.loader import make_train_loader

    trainer = Trainer(tiny_recipe(tmp_path / "run", "train.lr=0.005"))
    cfg = trainer.cfg
    batch = next(iter(make_train_loader(trainer.train_index, cfg.batch_size, [128], 0.0, False, False, False, 0, 0, 0)))
    trainer.model.train()
    losses = [trainer.train_step(batch)["loss_vfl"] for _ in range(12)]
    assert np.mean(losses[-3:]) < 0.75 * losses[0], losses


def test_interrupt_then_resume_equals_an_uninterrupted_run(tiny_recipe, tmp_path: Path):
    full = Trainer(tiny_recipe(tmp_path / "full", "train.epochs=2")).fit()
    recipe = tiny_recipe(tmp_path / "cut", "train.epochs=2")
    stopped = Trainer(recipe, reporter=StopAfter(6)).fit()
    assert stopped.interrupted and stopped.steps == 6
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.ckpt")["state"]
    assert (state.epoch, state.batch_in_epoch) == (1, 2), "saved in the middle of the second epoch"
    resumed = Trainer(recipe, resume=True).fit()
    assert resumed.steps == full.steps == 8
    a = load_state_dict(tmp_path / "full" / "weights" / "last.pdparams")
    b = load_state_dict(tmp_path / "cut" / "weights" / "last.pdparams")
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_existing_run_needs_resume(tiny_recipe, tmp_path: Path):
    recipe = tiny_recipe(tmp_path / "run", "train.epochs=1")
    Trainer(recipe).fit()
    with pytest.raises(PicodetError, match="already holds a run"):
        Trainer(recipe)


def test_batch_larger_than_data_is_refused(tiny_recipe, tmp_path: Path):
    with pytest.raises(PicodetError, match="batch_size"):
        Trainer(tiny_recipe(tmp_path / "run", "train.batch_size=64"))
