"""INT8 rows beside the FP32 ones: a `picodet quantize` folder's INT8 artifacts, each with its speed-up over the
FP32 row of the same runtime and its mAP (measured on --data, else the quantize run's own, from its report).

Where INT8 is slower than FP32 in its runtime on this CPU the row says so and recommends FP32.
"""

from __future__ import annotations

import json
from pathlib import Path

from .rows import BenchRow

QUANT_REPORT = "quant_report.json"  # slim/report.py REPORT (not imported: slim pulls in numpy-heavy modules)
# format -> the quantize report's runtime key for its INT8 mAP
REPORT_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino", "paddle": "paddle"}


def is_quant_folder(folder: Path) -> bool:
    """Whether `folder` is a `picodet quantize` output folder."""
    return (Path(folder) / QUANT_REPORT).is_file()


def fp32_folder(quant_dir: Path, name: str) -> Path | None:
    """The FP32 reference artifact a quantize folder keeps for format `name` (onnx, paddle), or None."""
    sub = Path(quant_dir) / "fp32" / name
    return sub if sub.is_dir() else None


def int8_folders(quant_dir: Path, names: list[str]) -> dict[str, Path]:
    """format -> its INT8 folder (`<format>_int8`) in a quantize folder, for the formats in `names` it has."""
    return {n: Path(quant_dir) / f"{n}_int8" for n in names if (Path(quant_dir) / f"{n}_int8").is_dir()}


def report_map(quant_dir: Path, name: str) -> dict[str, float] | None:
    """The quantize run's INT8 mAP / mAP50 for format `name` (None when it measured none)."""
    report = json.loads((Path(quant_dir) / QUANT_REPORT).read_text())
    return (report.get("int8") or {}).get(REPORT_RUNTIMES.get(name, ""))


def add_speedups(rows: list[BenchRow], quant_dir: Path) -> None:
    """Set each INT8 row's speed-up over the FP32 row of the same runtime (without one in the table: the speed-up
    the quantize run measured, interleaved); a slower INT8 row recommends FP32."""
    fp32 = {r.runtime: r for r in rows if r.precision == "fp32" and r.status == "ok" and r.latency}
    measured = json.loads((Path(quant_dir) / QUANT_REPORT).read_text()).get("latency", {})
    for row in rows:
        if row.precision != "int8" or row.status != "ok" or not row.latency:
            continue
        ref = fp32.get(row.runtime)
        if ref is not None:
            row.speedup = ref.latency.mean / row.latency.mean
        elif "speedup" in measured.get(row.runtime, {}):
            row.speedup = measured[row.runtime]["speedup"]
            row.note = _join(row.note, f"speed-up from {QUANT_REPORT} (no FP32 {row.format} row here)")
        else:
            continue
        if row.speedup < 1:
            row.note = _join(row.note, f"INT8 is {1 / row.speedup:.2f}x FP32's time in {row.runtime} here: use FP32")


def _join(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more


def int8_row(name: str, folder: Path, quant_dir: Path, measured_map: bool) -> BenchRow:
    """An INT8 row of format `name` (timed by the caller); without --data its mAP is the quantize run's."""
    row = BenchRow(name, precision="int8", reused=True)
    row.size_mb = round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 4)
    if not measured_map:
        found = report_map(quant_dir, name)
        if found:
            row.map, row.map50 = found["map"], found["map50"]
            row.note = f"mAP from {QUANT_REPORT}"
    return row


def rows_for(quant_dir: Path, names: list[str], measured_map: bool) -> list[tuple[BenchRow, Path]]:
    """(row, folder) per INT8 artifact of `quant_dir` among the formats `names`, rows not yet timed."""
    return [(int8_row(n, f, quant_dir, measured_map), f) for n, f in int8_folders(quant_dir, names).items()]
