"""Quantization-aware training: picodet's Trainer on a PicoDet wrapped with paddle's fake-quant layers.

`ImperativeQuantAware` (paddle 3.3.1, settings in `QAT_SETTINGS`) replaces every Conv2D/Linear with a quantized
twin: channel-wise abs-max INT8 weights and moving-average abs-max INT8 activations, simulated in FP32 so the
network learns around the rounding. Training, progress, checkpoints and resume are the Trainer's; the run folder
is `<output.dir>/qat` and its weights are fake-quant state dicts (weights plus learned scales), which
`picodet quantize` converts to INT8 programs in the legacy toolchain.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.trainer import Trainer
from . import QAT_SETTINGS

QUANT_KEY_PARTS = ("_fake_quant_", "_ma_output_scale", "_out_scale")


def qat_recipe(recipe: Any, weights: str | Path | None = None) -> Any:
    """`recipe` with [train] taking epochs, lr and batch size from [quantize], no EMA, output in `<dir>/qat`."""
    q = recipe.quantize
    train = dataclasses.replace(recipe.train, epochs=q.epochs, lr=q.lr, batch_size=q.batch_size, ema=False)
    train = dataclasses.replace(train, cosine_epochs=max(train.cosine_epochs, q.epochs))
    init = str(weights) if weights is not None else recipe.weights.init
    return dataclasses.replace(
        recipe,
        train=train,
        weights=dataclasses.replace(recipe.weights, init=init),
        output=dataclasses.replace(recipe.output, dir=Path(recipe.output.dir) / "qat"),
    )


def quantize_layers(model: Any) -> Any:
    """Wrap `model`'s Conv2D/Linear layers in place with fake-quant layers; returns the wrapper."""
    from paddle.quantization import ImperativeQuantAware

    quant = ImperativeQuantAware(**QAT_SETTINGS)
    quant.quantize(model)
    return quant


class QatTrainer(Trainer):
    """A Trainer whose model is fake-quantized before the optimizer is built and before a checkpoint is restored."""

    def __init__(self, recipe: Any, *, resume: bool = False, reporter: Any = None) -> None:
        from ..engine.optim import build_optimizer

        self._restore_later = True
        super().__init__(recipe, resume=resume, reporter=reporter)
        quantize_layers(self.model)
        self.optimizer = build_optimizer(self.model, self.cfg.lr, self.cfg.momentum, self.cfg.weight_decay)
        self._restore_later = False
        if resume:
            self.restore()

    def restore(self) -> None:
        if not self._restore_later:
            super().restore()

    def evaluate(self) -> dict[str, float]:
        """mAP of the fake-quantized model itself (the Trainer's rebuilds an FP32 model)."""
        from ..engine.evaluate import evaluate_detector, paddle_detect_fn

        ev = self.recipe.eval
        detect = paddle_detect_fn(
            self.model, score_threshold=ev.score_threshold, nms_threshold=ev.nms_threshold, keep_top_k=ev.keep_top_k
        )
        result, _ = evaluate_detector(detect, self.val_index, self.input_size, ev.batch_size, self.cfg.workers)
        self.model.train()
        return {"map": result.map, "map50": result.map50, "map75": result.map75}


def fp32_state_dict(qat_state: dict[str, Any]) -> dict[str, np.ndarray]:
    """The plain PicoDet state dict inside a fake-quant one (wrapper keys `._layer.` removed, scales dropped)."""
    state = {}
    for key, value in qat_state.items():
        if any(part in key for part in QUANT_KEY_PARTS):
            continue
        state[key.replace("._layer.", ".")] = np.asarray(value)
    return state
