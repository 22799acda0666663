"""The original's learning-rate schedule: linear warm-up, then per-iteration cosine decay."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """lr(step) = base * warm-up factor for the first `warmup_steps`, then base * 0.5 * (1 + cos(pi * step / total)).

    The cosine runs over `total_steps` (the original's `max_epochs` x iterations per epoch), counted from step 0,
    so a run shorter than `total_steps` stops before the cosine reaches 0, exactly like the L and MobileNetV3 configs.
    """

    base_lr: float
    warmup_steps: int
    total_steps: int
    warmup_start_factor: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            alpha = step / self.warmup_steps
            return self.base_lr * (self.warmup_start_factor * (1 - alpha) + alpha)
        progress = min(step, self.total_steps) / max(self.total_steps, 1)
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * progress))
