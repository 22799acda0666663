"""QAT of a PicoDet v2 for two steps: it trains with fake-quant layers and converts to a Paddle INT8 program that runs
and agrees with its fake-quant twin in v2's deploy layout (test_qat.py covers resume and checkpoints on v1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picodet_cli.hub.safe_load import load_state_dict

from .conftest import SIZE
from .test_qat import qat_recipe_for

ARCH = "picodet-s-v2"


def bn_calibrated_weights(val_index, path: Path) -> Path:
    """A random-init PicoDet-S v2 whose BatchNorm statistics are those of the validation images (one train-mode
    pass with momentum 0), saved to `path`. Plain random init gives constant outputs (activations shrink to ~0
    through the unnormalised network), so an INT8 program could not be told from its twin by them."""
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.pipeline import calibration_images

    paddle.seed(0)
    model = build_model(ARCH, num_classes=len(val_index.class_names), input_size=SIZE)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            layer._momentum = 0.0
    model.train()
    with paddle.no_grad():
        model.head_outputs(paddle.to_tensor(calibration_images(val_index, SIZE, 4, 4)))
    paddle.save(model.state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def qat_v2_run(shapes, val_index, tmp_path_factory: pytest.TempPathFactory):
    """Two QAT steps of a PicoDet-S v2 from BN-calibrated random weights, 128 px (no EMA, as every QAT run)."""
    from picodet_cli.slim.qat import QatTrainer

    folder = tmp_path_factory.mktemp("qat-v2")
    init = bn_calibrated_weights(val_index, folder / "init.pdparams")
    recipe = qat_recipe_for(shapes, folder / "run", f'model.arch="{ARCH}"', f'weights.init="{init}"')
    trainer = QatTrainer(recipe)
    return trainer, trainer.fit()


def test_qat_trains_a_v2_model_with_fake_quant_layers(qat_v2_run):
    trainer, result = qat_v2_run
    assert trainer.model.arch.generation == "v2"
    assert result.steps == 2 and not result.interrupted
    state = load_state_dict(result.last_weights)
    assert sum(k.endswith("_fake_quant_weight._scale") for k in state) > 50
    assert all(np.isfinite(v).all() for v in state.values())
    assert result.history and set(result.history[-1]) >= {"map", "map50"}


def test_qat_converts_a_v2_model_to_a_paddle_int8_program_that_runs(qat_v2_run, legacy, tmp_path: Path):
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.runtimes.paddle import PaddleRuntime
    from picodet_cli.slim.artifacts import paddle_int8_qat
    from picodet_cli.slim.qat import fp32_state_dict

    trainer, result = qat_v2_run
    plain = build_model(trainer.model.arch, num_classes=4, input_size=SIZE)
    fp32 = fp32_state_dict(load_state_dict(result.last_weights))
    assert set(fp32) == set(plain.state_dict())
    plain.set_state_dict({k: paddle.to_tensor(v) for k, v in fp32.items()})
    saved = paddle_int8_qat(plain, result.last_weights, tmp_path)
    assert saved["model"].is_file() and saved["quantized_layers"] > 50
    runtime = PaddleRuntime()
    runtime.load(saved["model"])
    image = np.random.default_rng(0).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    outputs = runtime.run({"image": image})
    trainer.model.eval()
    with paddle.no_grad():
        expected = [o.numpy() for o in trainer.model(paddle.to_tensor(image))]
    assert len(outputs) == len(expected) == 8  # scores then box logits, strides 8, 16, 32, 64
    for got, want in zip(outputs, expected, strict=True):
        assert want.std() > 0.005  # BN-calibrated weights: outputs vary, so the comparison means something
        # INT8 program vs its fake-quant twin: the same learned scales, so far below INT8-vs-FP32 noise (measured 0)
        assert np.abs(got.reshape(want.shape) - want).max() < 0.05 * want.std()
