"""The bundled v2 COCO recipes reproduce upstream's *_coco_lcnet configs (PICODET_V2_SPEC.md section 7)."""

from __future__ import annotations

import pytest

from picodet_cli.recipe.loader import check_recipe, default_recipes_dir, load_recipe

UPSTREAM = {  # epochs, batch per GPU, base lr
    "xs-320-v2": (300, 64, 0.32),
    "xs-416-v2": (300, 56, 0.28),
    "s-320-v2": (300, 64, 0.32),
    "s-416-v2": (300, 48, 0.24),
    "m-320-v2": (300, 48, 0.24),
    "m-416-v2": (250, 48, 0.24),
    "l-320-v2": (250, 24, 0.12),
    "l-416-v2": (250, 24, 0.12),
    "l-640-v2": (200, 12, 0.06),
}


def test_every_v2_zoo_model_has_a_recipe():
    assert {p.name for p in default_recipes_dir().glob("*-v2-coco.toml")} == {f"{m}-coco.toml" for m in UPSTREAM}


@pytest.mark.parametrize("model", sorted(UPSTREAM))
def test_v2_recipes_reproduce_upstream(model: str):
    recipe = load_recipe(default_recipes_dir() / f"{model}-coco.toml")
    train = recipe.train
    assert (train.epochs, train.batch_size, train.lr) == UPSTREAM[model]
    assert (train.cosine_epochs, train.warmup_steps, train.warmup_start_factor, train.devices) == (300, 300, 0.1, 4)
    assert (train.ema, train.ema_decay, train.ema_cycle_epochs, train.static_assigner_epoch) == (True, 0.9998, 0, 100)
    assert (train.momentum, train.weight_decay) == (0.9, 4e-5)
    size = recipe.model.input_size
    assert recipe.augment.sizes == [size - 64, size - 32, size, size + 32, size + 64]
    assert recipe.model.num_classes == 80 and recipe.data.format == "coco"
    assert check_recipe(recipe, check_data=False)[0].startswith(f"model: {model}")
