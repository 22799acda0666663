"""`bench.png`: latency (p50, with min-p90 whiskers) and mAP50 per format of a bench report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .figure import figure


def bench_chart(rows: list[Any], path: Path) -> Path | None:
    """Bars of p50 latency per format that ran, and its mAP50 when measured; None when no row has a latency.

    `rows` are bench rows (`BenchRow` or their dicts, as in a bench report's "rows").
    """
    rows = [r.to_dict() if hasattr(r, "to_dict") else r for r in rows]
    timed = [r for r in rows if r.get("status") == "ok" and (r.get("latency") or {}).get("p50") is not None]
    if not timed:
        return None
    labels = [str(r.get("label") or bar_label(r)) for r in timed]
    p50 = [r["latency"]["p50"] for r in timed]
    low = [max(0.0, p - (r["latency"].get("min") or p)) for p, r in zip(p50, timed, strict=True)]
    high = [max(0.0, (r["latency"].get("p90") or p) - p) for p, r in zip(p50, timed, strict=True)]
    with_map = [r.get("map50") for r in timed]
    columns = 2 if any(v is not None for v in with_map) else 1
    with figure(path, columns=columns, size=(5.5 * columns, 4)) as axes:
        ax = axes[0] if columns == 2 else axes
        ax.bar(labels, p50, yerr=[low, high], capsize=4, color="tab:blue")
        ax.set(title="latency per image (p50; min to p90)", ylabel="ms")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(axis="y", alpha=0.3)
        if columns == 2:
            scored = [(label, v) for label, v in zip(labels, with_map, strict=True) if v is not None]
            axes[1].bar([s[0] for s in scored], [s[1] for s in scored], color="tab:green")
            axes[1].set(title="mAP50 per format (fraction)", ylim=(0, 1))
            axes[1].tick_params(axis="x", rotation=45)
            axes[1].grid(axis="y", alpha=0.3)
    return path


def bar_label(row: dict[str, Any]) -> str:
    """The format, with its precision when it is not FP32 ("onnx int8"): INT8 rows stand beside the FP32 ones."""
    precision = row.get("precision") or "fp32"
    return row["format"] if precision == "fp32" else f"{row['format']} {precision}"
