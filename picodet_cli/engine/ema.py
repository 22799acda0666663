"""Exponential moving average of every state-dict entry (weights and BN statistics), as the original."""

from __future__ import annotations

import numpy as np
import paddle


class ModelEMA:
    """EMA with bias correction at apply time (divide by 1 - decay^updates) and an optional periodic reset."""

    def __init__(self, model: paddle.nn.Layer, decay: float = 0.9998, cycle_epochs: int = 0) -> None:
        self.decay = decay
        self.cycle_epochs = cycle_epochs
        self.updates = 0
        self.shadow = {k: paddle.zeros_like(v, dtype="float32") for k, v in model.state_dict().items()}
        self._pairs: list[tuple[paddle.Tensor, paddle.Tensor, bool]] | None = None  # (shadow, model tensor, cast)

    def reset(self) -> None:
        self.updates = 0
        for value in self.shadow.values():
            value.set_value(paddle.zeros_like(value))

    def maybe_reset(self, epoch: int) -> None:
        """Start over at the beginning of every `cycle_epochs`-th epoch (the original's `cycle_epoch`)."""
        if self.cycle_epochs > 0 and epoch > 0 and epoch % self.cycle_epochs == 0:
            self.reset()

    @paddle.no_grad()
    def update(self, model: paddle.nn.Layer) -> None:
        """shadow = decay * shadow + (1 - decay) * value, in place (the model's tensors are looked up once).

        Three kernel calls per tensor through `paddle._C_ops`: the Tensor methods' dispatch cost more than the
        arithmetic on these small tensors (measured: 5 ms instead of 12 per step for PicoDet-S's 580 tensors,
        a tenth of a batch-2 training step)."""
        self.updates += 1
        if self._pairs is None:
            self._pairs = [(self.shadow[k], v, v.dtype != paddle.float32) for k, v in model.state_dict().items()]
        ops = paddle._C_ops
        for shadow, value, cast in self._pairs:
            value = value.astype("float32") if cast else value
            ops.add_(ops.scale_(shadow, self.decay, 0.0, True), ops.scale(value, 1 - self.decay, 0.0, True))

    def state_dict(self) -> dict[str, np.ndarray]:
        """The bias-corrected averaged weights (the model that is evaluated and exported)."""
        if self.updates == 0:
            raise ValueError("the EMA has not been updated yet")
        correction = 1 - self.decay**self.updates
        return {k: (v / correction).numpy() for k, v in self.shadow.items()}

    def raw_state(self) -> dict[str, object]:
        return {"updates": self.updates, "shadow": {k: v.numpy() for k, v in self.shadow.items()}}

    def load_raw_state(self, state: dict[str, object]) -> None:
        self.updates = int(state["updates"])  # type: ignore[arg-type]
        for key, value in state["shadow"].items():  # type: ignore[union-attr]
            self.shadow[key].set_value(paddle.to_tensor(value))
