"""The benchmark as a rich table: a header with model and host, then one row per format (failures included).

mAP is shown as `picodet eval` prints it: a fraction 0-1 (3 decimals), as in the JSON report.
"""

from __future__ import annotations

from typing import Any

STYLES = {"ok": "green", "failed": "red", "missing": "red", "skipped": "dim", "published": "cyan"}
COLUMNS = (
    "format", "precision", "status", "MB", "mAP 0-1", "mAP50 0-1", "ms mean/p50/p90/min", "vs FP32", "e2e ms", "FPS",
    "GFLOP/s (peak)", "runtime x threads", "details",
)  # fmt: skip
NUMERIC = {"MB", "mAP 0-1", "mAP50 0-1", "vs FP32", "e2e ms", "FPS", "GFLOP/s (peak)"}


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _latency(latency: dict[str, Any] | None) -> str:
    if not latency:
        return "-"
    return "/".join(_num(latency[k], ".2f") for k in ("mean", "p50", "p90", "min"))


def header_lines(report: dict[str, Any]) -> list[str]:
    """Model, FLOPs and params, the host and the settings, as plain lines."""
    host = report["host"]
    gflops = _num(report["gflops"], ".2f")
    params = _num(report["params"] / 1e6 if report["params"] else None, ".2f")
    return [
        f"{report['model']} @ {report['input_size']} px: {gflops} GFLOPs, {params} M params (computed)",
        f"host: {host['cpu']} ({host['arch']}, {host['cores']} cores), {host['os']}, Python {host['python']}",
        f"device {report['device']}, {report['threads']} threads, warm-up {report['warmup']}, {report['runs']} runs"
        f"{', fp16' if report['fp16'] else ''}; CPU peak {report['peak_gflops']:.1f} GFLOP/s (float32 matmul probe)",
        f"data: {report['data']}; mAP as a {report.get('map_unit')}" if report["data"] else "data: none (no mAP)",
    ]


def bench_table(report: dict[str, Any]) -> Any:
    """A rich Table of `BenchReport.to_dict()`."""
    from rich.table import Table

    table = Table(title="\n".join(header_lines(report)), title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for row in report["rows"]:
        status = row["status"]
        version = (row["runtime_version"] or "").split("-")[0]  # OpenVINO appends its build tag
        runtime = " ".join(v for v in (row["runtime"], version) if v) or "-"
        runtime += f" x{row['threads']}" if row["threads"] else ""
        throughput = _num(row["gflops_per_s"], ".1f")
        if row["peak_fraction"] is not None:
            throughput += f" ({row['peak_fraction']:.0%})"
        details = row["error"] or row["note"] or ("reused export" if row["reused"] else "")
        if row["hint"]:
            details += f" (hint: {row['hint']})"
        if row["device"] not in (None, "host"):
            details = f"{row['device']}; {details}" if details else row["device"]
        table.add_row(
            row["format"],
            row.get("precision") or "-",
            f"[{STYLES.get(status, '')}]{status}[/]",
            _num(row["size_mb"], ".2f"),
            _num(row["map"], ".3f"),
            _num(row["map50"], ".3f"),
            _latency(row["latency"]),
            "-" if row.get("speedup") is None else f"{row['speedup']:.2f}x",
            _num(row["e2e_ms"], ".2f"),
            _num(row["fps"], ".1f"),
            throughput,
            runtime,
            details,
        )
    return table
