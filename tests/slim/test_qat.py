"""QAT for a few steps: it trains with fake-quant layers, checkpoints, resumes exactly and converts to INT8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picodet_cli.engine.trainer import SilentReporter
from picodet_cli.hub.safe_load import load_state_dict
from picodet_cli.recipe.loader import default_recipes_dir, load_recipe


def qat_recipe_for(shapes, out: Path, *extra: str):
    from picodet_cli.slim.qat import qat_recipe

    sets = [
        f'data.train_images="{shapes.train_images}"', f'data.train_annotations="{shapes.train_annotations}"',
        f'data.val_images="{shapes.val_images}"', f'data.val_annotations="{shapes.val_annotations}"',
        f'output.dir="{out}"', "model.input_size=128", "augment.sizes=[128]", "train.workers=0",
        "train.warmup_steps=1", "train.log_interval=1", "train.eval_interval=0", "train.save_interval=1",
        "quantize.method=qat", "quantize.epochs=1", "quantize.batch_size=4", "quantize.lr=0.01", *extra,
    ]  # fmt: skip
    return qat_recipe(load_recipe(default_recipes_dir() / "demo.toml", sets))


class StopAfter(SilentReporter):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def step(self, trainer, values) -> None:
        if trainer.state.step == self.steps:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def qat_run(shapes, tmp_path_factory: pytest.TempPathFactory):
    """Two QAT steps in one go."""
    from picodet_cli.slim.qat import QatTrainer

    recipe = qat_recipe_for(shapes, tmp_path_factory.mktemp("qat") / "full")
    trainer = QatTrainer(recipe)
    return trainer, trainer.fit()


def test_qat_trains_with_fake_quant_layers_and_checkpoints(qat_run):
    result = qat_run[1]
    assert result.steps == 2 and not result.interrupted
    assert (result.run_dir / "checkpoints" / "last.ckpt").is_file()
    state = load_state_dict(result.last_weights)
    assert any(k.endswith("_fake_quant_weight._scale") for k in state)
    assert result.history and set(result.history[-1]) >= {"map", "map50"}


def test_qat_resume_equals_an_uninterrupted_run(qat_run, shapes, tmp_path: Path):
    from picodet_cli.slim.qat import QatTrainer

    recipe = qat_recipe_for(shapes, tmp_path / "cut")
    first = QatTrainer(recipe, reporter=StopAfter(1)).fit()
    assert first.interrupted and first.steps == 1
    resumed = QatTrainer(recipe, resume=True).fit()
    assert resumed.steps == 2
    a, b = load_state_dict(qat_run[1].last_weights), load_state_dict(resumed.last_weights)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_fp32_state_dict_loads_into_a_plain_picodet(qat_run):
    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.qat import fp32_state_dict

    trainer, result = qat_run
    plain = build_model(trainer.model.arch, num_classes=4, input_size=128)
    state = fp32_state_dict(load_state_dict(result.last_weights))
    assert set(state) == set(plain.state_dict())


def test_qat_converts_to_a_paddle_int8_program_that_runs(qat_run, legacy, tmp_path: Path):
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.runtimes.paddle import PaddleRuntime
    from picodet_cli.slim.artifacts import paddle_int8_qat
    from picodet_cli.slim.qat import fp32_state_dict

    trainer, result = qat_run
    plain = build_model(trainer.model.arch, num_classes=4, input_size=128)
    plain.set_state_dict(
        {k: paddle.to_tensor(v) for k, v in fp32_state_dict(load_state_dict(result.last_weights)).items()}
    )
    saved = paddle_int8_qat(plain, result.last_weights, tmp_path)
    assert saved["model"].is_file() and saved["quantized_layers"] > 50
    runtime = PaddleRuntime()
    runtime.load(saved["model"])
    image = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    outputs = runtime.run({"image": image})
    trainer.model.eval()
    with paddle.no_grad():
        expected = [o.numpy() for o in trainer.model(paddle.to_tensor(image))]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs[:4], expected[:4], strict=True):
        assert np.abs(got.reshape(want.shape) - want).max() < 0.05  # INT8 program vs its fake-quant twin
