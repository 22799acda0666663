"""A short dense-matmul probe of the CPU's float32 throughput (numpy/BLAS), as a roofline for GFLOP/s."""

from __future__ import annotations

import time

import numpy as np


def measure_peak_gflops(size: int = 1024, budget_s: float = 0.3) -> float:
    """Best GFLOP/s of `size`³ float32 matmuls over about `budget_s` seconds (numpy's BLAS threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
    flops, best, deadline = 2.0 * size**3, 0.0, time.perf_counter() + budget_s
    while True:
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        elapsed = time.perf_counter() - start
        best = max(best, flops / max(elapsed, 1e-9) / 1e9)
        if time.perf_counter() >= deadline:
            return best
