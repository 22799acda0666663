"""`export_report.json` and the summary table of an export run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .pipeline import ExportOptions, FormatResult

FAILED = ("failed", "missing")


def build_report(
    model_name: str,
    input_size: int,
    options: ExportOptions,
    results: list[FormatResult],
    step_seconds: dict[str, float],
) -> dict[str, Any]:
    """The report as plain JSON data (file paths relative to the export folder)."""
    from .. import __version__
    from ..io import sha256_file

    formats = {}
    for result in results:
        files = [
            {"path": str(p.relative_to(options.out_dir)), "size_mb": p.stat().st_size / 1e6, "sha256": sha256_file(p)}
            for p in result.files
            if p.is_file()
        ]
        formats[result.name] = {
            "status": result.status,
            "files": files,
            "size_mb": round(sum(f["size_mb"] for f in files), 4),
            "seconds": round(result.seconds, 3),
            "verification": result.verification,
            "error": result.error,
            "hint": result.hint,
            "note": result.note,
        }
    return {
        "model": model_name,
        "input_size": input_size,
        "postprocess": options.postprocess,
        "fp16": options.fp16,
        "opset": options.opset,
        "target": options.target,
        "out_dir": str(options.out_dir),
        "picodet_version": __version__,
        "ok": all(r.status not in FAILED for r in results),
        "formats": formats,
        "skipped": options.skipped,
        "step_seconds": {k: round(v, 3) for k, v in step_seconds.items()},
    }


def write_report(report: dict[str, Any], out_dir: Path) -> Path:
    """`export_report.json` (temp + rename; a full disk is one line and leaves the old report)."""
    from ..io import write_json_atomic
    from .staging import DiskFull, is_disk_full

    path = out_dir / "export_report.json"
    try:
        write_json_atomic(path, report)
    except OSError as error:
        if is_disk_full(error):
            raise DiskFull(path) from None
        raise
    return path


def _worst(verification: dict[str, Any] | None, key: str) -> float | None:
    if not verification:
        return None
    values = [o.get(key) for feed in verification["inputs"].values() for o in feed.get("outputs", {}).values()]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _agreement(verification: dict[str, Any] | None) -> float | None:
    if not verification:
        return None
    values = [feed["agreement"] for feed in verification["inputs"].values() if "agreement" in feed]
    return min(values) if values else None


def report_table(report: dict[str, Any]) -> Any:
    """A rich Table: one row per format (status, size, errors, box agreement, time)."""
    from rich.table import Table

    styles = {"ok": "green", "unverified": "yellow", "failed": "red", "missing": "red", "skipped": "dim"}
    title = f"{report['model']} @ {report['input_size']} (postprocess {report['postprocess']}" + (
        ", fp16)" if report["fp16"] else ")"
    )
    table = Table(title=title, title_justify="left")
    for column in ("format", "status", "size MB", "max abs", "max rel", "boxes agree", "time s", "details"):
        table.add_column(column, justify="right" if column in {"size MB", "time s"} else "left")
    for name, entry in report["formats"].items():
        v = entry["verification"]
        abs_err, rel_err, agree = _worst(v, "max_abs"), _worst(v, "max_rel"), _agreement(v)
        folder = entry["files"][0]["path"].split("/")[0] + "/" if entry["files"] else ""
        details = entry["error"] or entry["note"] or folder
        if entry["hint"]:
            details += f" ({entry['hint']})"
        table.add_row(
            name,
            f"[{styles.get(entry['status'], '')}]{entry['status']}[/]",
            f"{entry['size_mb']:.2f}",
            "-" if abs_err is None else f"{abs_err:.2g}",
            "-" if rel_err is None else f"{rel_err:.2g}",
            "-" if agree is None else f"{agree:.1%}",
            f"{entry['seconds']:.1f}",
            details,
        )
    for name, reason in report["skipped"].items():
        table.add_row(name, "[dim]skipped[/]", "-", "-", "-", "-", "-", reason)
    return table
