"""The artifacts to benchmark: reused from an earlier export when weights and options match, else exported.

An export folder matches when its `export_report.json` records the same `weights_sha256` (state-dict digest,
see `models.pretrained.state_digest`), input size, post-processing and fp16 flag, and the format's files are
still there.
Folders searched: the bench cache (`<cache>/exports/<model>-<size>-<digest>`) and `runs/export/*`. Formats
not found are exported into the cache folder and its report is updated. Randomly initialised models are
exported to a temporary folder instead (their digest never comes back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .source import Source

POSTPROCESS = "none"  # raw head outputs: every runtime gets the same input and the shared post-processing
REUSABLE = ("ok", "unverified")


@dataclass
class ExportedFormat:
    """One format's artifact folder (or why there is none)."""

    name: str
    folder: Path | None
    size_mb: float | None = None
    reused: bool = False
    error: str | None = None
    hint: str | None = None
    status: str = "ok"


def cache_folder(source: Source, fp16: bool, root: Path) -> Path:
    """`<root>/<model>-<size>[-fp16]-<digest>`: where this model's exports go."""
    tag = f"{Path(source.name).name}-{source.input_size}{'-fp16' if fp16 else ''}-{source.weights_sha256[:12]}"
    return root / tag


def _read_report(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "export_report.json").read_text())
    except (OSError, ValueError):
        return None


def _matches(report: dict[str, Any] | None, source: Source, fp16: bool) -> bool:
    if report is None:
        return False
    wanted = {"weights_sha256": source.weights_sha256, "input_size": source.input_size, "postprocess": POSTPROCESS}
    return all(report.get(k) == v for k, v in wanted.items()) and bool(report.get("fp16")) == fp16


def _candidates(own: Path) -> Iterator[Path]:
    yield own
    runs = Path("runs/export")
    if runs.is_dir():
        yield from sorted(p for p in runs.iterdir() if p.is_dir())


def _reusable(folder: Path, report: dict[str, Any], name: str) -> ExportedFormat | None:
    entry = report.get("formats", {}).get(name)
    if not entry or entry.get("status") not in REUSABLE:
        return None
    if not entry["files"] or not all((folder / f["path"]).is_file() for f in entry["files"]):
        return None
    return ExportedFormat(name, folder / name, entry["size_mb"], reused=True)


def find_exports(source: Source, names: list[str], fp16: bool, root: Path) -> dict[str, Any]:
    """Formats already exported with these weights and options: {name: ExportedFormat}."""
    found: dict[str, ExportedFormat] = {}
    for folder in _candidates(cache_folder(source, fp16, root)):
        report = _read_report(folder)
        if not _matches(report, source, fp16):
            continue
        for name in names:
            if name not in found and (hit := _reusable(folder, report, name)) is not None:
                found[name] = hit
    return found


def export_missing(
    source: Source,
    names: list[str],
    fp16: bool,
    verify: bool,
    root: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, ExportedFormat]:
    """Every format in `names`: reused where possible, exported otherwise into a folder under `root`."""
    from ..export.formats import get_format
    from ..export.pipeline import ExportOptions, run_export
    from ..export.report import build_report, write_report

    found = find_exports(source, names, fp16, root)
    missing = [n for n in names if n not in found]
    if not missing:
        return found
    out = cache_folder(source, fp16, root)
    options = ExportOptions([get_format(n) for n in missing], out, POSTPROCESS, fp16, target="arm", verify=verify)
    results, steps = run_export(source.model, source.name, source.class_names, options, progress)
    report = build_report(source.name, source.input_size, options, results, steps)
    previous = _read_report(out)
    if _matches(previous, source, fp16):
        report["formats"] = previous["formats"] | report["formats"]
    report["weights_sha256"] = source.weights_sha256
    write_report(report, out)
    for result in results:
        entry = report["formats"][result.name]
        ok = result.status in REUSABLE
        found[result.name] = ExportedFormat(
            result.name, out / result.name if ok else None, entry["size_mb"], error=result.error, hint=result.hint,
            status="ok" if ok else result.status,
        )  # fmt: skip
    return found


def folder_formats(folder: Path, names: list[str]) -> dict[str, ExportedFormat]:
    """The formats of a given export folder, nothing exported: missing ones are failed. For a `picodet quantize`
    folder these are its FP32 references (`fp32/<format>`; formats without one are skipped), its INT8 artifacts
    are rows of their own (see int8.py)."""
    from .int8 import fp32_folder, is_quant_folder

    found = {}
    quant = is_quant_folder(folder)
    for name in names:
        sub = fp32_folder(folder, name) if quant else folder / name
        if quant and sub is None:
            found[name] = ExportedFormat(
                name, None, error=f"{folder} keeps no FP32 {name} model (its INT8 row is below)", status="skipped"
            )
        elif sub.is_dir():
            size = sum(p.stat().st_size for p in sub.rglob("*") if p.is_file() and p.name != "picodet.json") / 1e6
            found[name] = ExportedFormat(name, sub, round(size, 4), reused=True)
        else:
            found[name] = ExportedFormat(
                name, None, error=f"{folder} has no {name}/ export", hint="bench the model itself to export it",
                status="failed",
            )  # fmt: skip
    return found
