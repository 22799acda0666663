"""One benchmark row per format (and a `published` reference row); failures are rows too."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import MissingDependency, PicodetError
from .timing import Latency

FAILED = ("failed", "missing")


@dataclass
class BenchRow:
    """The numbers of one format: status ok / failed / missing / skipped, or `published` (zoo reference)."""

    format: str
    status: str = "ok"
    precision: str | None = None  # fp32 | fp16 | int8 (None: the published reference)
    runtime: str | None = None
    runtime_version: str | None = None
    size_mb: float | None = None
    map: float | None = None  # COCO mAP(0.5:0.95), 0-1
    map50: float | None = None
    latency: Latency | None = None  # the model call alone
    e2e_ms: float | None = None  # pre-process + model + post-process, per image (mean)
    fps: float | None = None  # 1000 / e2e_ms (model-call latency when there is no end-to-end time)
    threads: int | None = None
    gflops_per_s: float | None = None
    peak_fraction: float | None = None  # achieved GFLOP/s over the measured matmul peak
    speedup: float | None = None  # INT8 rows: FP32 latency of the same runtime / this row's latency
    device: str | None = None
    artifact: str | None = None
    reused: bool | None = None  # artifact taken from an earlier export
    error: str | None = None
    hint: str | None = None
    note: str | None = None
    verification: dict[str, Any] | None = None  # emulated rows: the outputs checked against the Paddle model

    @property
    def ok(self) -> bool:
        return self.status not in FAILED

    def fail(self, status: str, error: str, hint: str | None = None) -> BenchRow:
        self.status, self.error, self.hint = status, error, hint
        return self

    def fail_with(self, error: Exception) -> BenchRow:
        """This row for an error: a missing runtime, a picodet error, or any crash (which must not stop the other
        formats; re-raised with PICODET_DEBUG=1)."""
        if isinstance(error, MissingDependency):
            return self.fail("missing", error.message, error.hint)
        if isinstance(error, PicodetError):
            return self.fail("failed", error.message, error.hint)
        if os.environ.get("PICODET_DEBUG"):
            raise error
        return self.fail("failed", f"{type(error).__name__}: {error}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency"] = self.latency.to_dict() if self.latency else None
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in data.items()}
