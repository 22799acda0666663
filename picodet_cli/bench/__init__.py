"""`picodet bench`: speed, size and accuracy of every export format, failures as rows.

`bench(...)` (in api.py) is the entry point; it is imported lazily so `import picodet_cli.bench` stays cheap.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("bench", "run_bench_stage"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'picodet_cli.bench' has no attribute {name!r}")
