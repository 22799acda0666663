"""Wall-clock timing of repeated calls: warm-up excluded, summary in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Summary of timed runs, in milliseconds."""

    mean: float
    p50: float | None  # None where only the mean is known (device runners, published numbers)
    p90: float | None
    min: float | None
    runs: int

    @classmethod
    def from_seconds(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds, np.float64) * 1e3
        return cls(
            float(ms.mean()), float(np.percentile(ms, 50)), float(np.percentile(ms, 90)), float(ms.min()), len(ms)
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_calls(fn: Callable[[int], Any], warmup: int, runs: int) -> list[float]:
    """Call `fn(i)` `warmup` times untimed, then `runs` times timed; seconds per timed call."""
    for i in range(warmup):
        fn(i)
    seconds = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        seconds.append(time.perf_counter() - start)
    return seconds
