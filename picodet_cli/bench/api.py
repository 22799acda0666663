"""`bench(...)`: export (or reuse) every format, run each with its runtime, one row per format."""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..defaults import BENCH_DEVICES as DEVICES
from ..errors import PicodetError
from .request import BenchRequest
from .rows import BenchRow
from .timing import Latency

ARM_HOSTS = ("aarch64", "arm64")
PEAK_PROBE = "numpy float32 1024x1024 matmul, best of ~0.3 s, BLAS default threads"
MAP_UNIT = "fraction 0-1 (as picodet eval)"  # COCO mAP and mAP50 in the rows, the table and the JSON
PUBLISHED_DEVICE = "Snapdragon 888 (Paddle-Lite, 4 threads, FP16)"
ARM_HINT = (
    "run on an aarch64 host, on an Android phone with --adb [--serial SERIAL], or add --emulate to check the "
    "aarch64 runtimes under qemu (the arm-emulator toolchain; its timings are meaningless)"
)


@dataclass
class BenchReport:
    """The rows (one per format, plus `published` for zoo models) and the header: model, host, settings."""

    header: dict[str, Any]
    rows: list[BenchRow] = field(default_factory=list)

    def __iter__(self) -> Iterator[BenchRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> BenchRow:
        return self.rows[index]

    def row(self, name: str) -> BenchRow:
        return next(r for r in self.rows if r.format == name)

    def to_dict(self) -> dict[str, Any]:
        return {**self.header, "rows": [r.to_dict() for r in self.rows]}


def _check_device(device: str, adb: str | None, emulate: bool) -> None:
    if device not in DEVICES:
        raise PicodetError(f"unknown --device '{device}'", f"use one of {', '.join(DEVICES)}")
    if adb is not None and device != "arm":
        raise PicodetError("--adb benchmarks on an Android phone", "add --device arm")
    if emulate and device != "arm":
        raise PicodetError("--emulate runs the aarch64 runtimes under qemu", "add --device arm")
    if emulate and adb is not None:
        raise PicodetError("--emulate and --adb exclude each other", "drop one of them")
    if emulate:
        from ..toolchain.arm_emulator import check_host

        check_host()
    elif device == "arm" and adb is None and platform.machine().lower() not in ARM_HOSTS:
        raise PicodetError(f"--device arm needs an ARM CPU; this host is {platform.machine()}", ARM_HINT)


def _emulated_row(row: BenchRow, folder: Path, emulator: Any, *args: Any) -> BenchRow:
    """One format under emulation (see emulate.py); errors become the row's status."""
    from .emulate import emulated_row

    try:
        return emulated_row(row, folder, emulator, *args)
    except Exception as error:
        return row.fail_with(error)


def _published(source: Any, weights: str | None) -> BenchRow | None:
    """The zoo's published numbers, for a zoo model with its own weights at its own input size."""
    entry = source.entry
    if entry is None or weights is not None or source.input_size != entry.input_size:
        return None
    return BenchRow(
        "published", status="published", runtime="paddle-lite", map=entry.map / 100, map50=entry.map50 / 100,
        latency=Latency(entry.latency_ms, None, None, None, 0), fps=1e3 / entry.latency_ms, threads=4,
        device=PUBLISHED_DEVICE, note="PaddleDetection README (not measured here)",
    )  # fmt: skip


def _device_row(row: BenchRow, folder: Path, source: Any, settings: dict[str, Any]) -> BenchRow:
    """Benchmark one format on the phone (no mAP, no end-to-end time there)."""
    from .adb import RUNNERS, bench_on_device, find_runner, runner_problem

    spec = RUNNERS.get(row.format)
    if spec is None:
        from ..export.formats import DEVICE_FORMATS

        hint = f"use {', '.join(DEVICE_FORMATS[:-1])} or {DEVICE_FORMATS[-1]}"
        return row.fail("skipped", f"no Android benchmark runner for {row.format}", hint)
    runner = find_runner(row.format, settings["runners"], settings["cache_root"])
    if runner is None:
        where = settings["cache_root"] / "bench" / "runners" / spec.executable
        return row.fail(
            "failed", f"no {spec.executable} runner for {row.format}", f"pass --runner PATH or put it at {where}"
        )
    problem = runner_problem(runner)
    if problem is not None:
        return row.fail("failed", problem, f"use an arm64-v8a build of {spec.executable}")
    files = [p for pattern in spec.patterns for p in sorted(folder.glob(pattern))]  # main file first
    if not files:
        return row.fail("failed", f"{folder} has no {' / '.join(spec.patterns)} file to push")
    try:
        row.latency = bench_on_device(
            settings["adb"], spec, runner, files, source.input_size, settings["threads"], settings["warmup"],
            settings["runs"], settings["affinity"],
        )  # fmt: skip
    except PicodetError as error:
        return row.fail("failed", error.message, error.hint)
    row.runtime, row.threads, row.artifact = spec.executable, settings["threads"], str(files[0])
    row.fps = 1e3 / row.latency.mean
    return row


def _artifacts(
    source: Any,
    names: list[str],
    fp16: bool,
    verify: bool,
    cache: Path,
    export_dir: str | Path | None,
    progress: Callable[[str], None],
    scratch: contextlib.ExitStack,
) -> dict[str, Any]:
    """Each format's folder: the given export folder's, else reused or exported (see exports.py).

    A randomly initialised model is exported to a temporary folder (its digest never comes back).
    """
    from .exports import ExportedFormat, export_missing, folder_formats

    if source.artifact is not None:
        path = source.artifact.path
        return {name: ExportedFormat(name, path, round(path.stat().st_size / 1e6, 4), reused=True) for name in names}
    if source.export_dir is not None:
        return folder_formats(source.export_dir, names)
    given = folder_formats(Path(export_dir), names) if export_dir else {}
    found = {n: e for n, e in given.items() if e.folder is not None}
    missing = [n for n in names if n not in found]
    if missing:
        temporary = source.weights is None
        root = Path(scratch.enter_context(tempfile.TemporaryDirectory())) if temporary else cache / "exports"
        found |= export_missing(source, missing, fp16, verify, root, lambda f: progress(f"exporting {f}"))
    return found


def _emulator(names: list[str], skipped: dict[str, str], cpu: str | None, progress: Callable[[str], None]) -> Any:
    """The Emulator (its toolchain provisioned when missing); formats it cannot run move to `skipped`."""
    from ..export.formats import EMULATED_FORMATS
    from ..toolchain import arm_emulator
    from .emulate import Emulator

    emulator = Emulator(arm_emulator.folder(), arm_emulator.cpu_model(cpu))
    for name in [n for n in names if n not in EMULATED_FORMATS]:
        names.remove(name)
        skipped[name] = f"no aarch64 {name} runtime under --emulate (runs {', '.join(EMULATED_FORMATS)})"
    if not names:
        raise PicodetError("none of these formats runs under --emulate", f"use --formats {','.join(EMULATED_FORMATS)}")
    arm_emulator.ensure(report=progress)
    return emulator


def _quant_dir(source: Any, req: BenchRequest) -> Path | None:
    """The `picodet quantize` folder whose INT8 artifacts get rows: MODEL itself or `req.quant_dir`."""
    from .int8 import is_quant_folder

    if source.export_dir is not None and is_quant_folder(source.export_dir):
        return source.export_dir
    return None if req.quant_dir is None else Path(req.quant_dir)


def _int8_rows(quant_dir: Path, names: list[str], bgr: Any, tensors: Any, threads: int, warmup: int, runs: int,
               index: Any, progress: Callable[[str], None]) -> list[BenchRow]:  # fmt: skip
    """The quantize folder's INT8 artifacts timed like the FP32 rows (mAP on `index` when given)."""
    from .int8 import rows_for
    from .local import bench_artifact

    rows = []
    for row, folder in rows_for(quant_dir, names, index is not None):
        progress(f"benchmarking {row.format} INT8")
        note = row.note  # where the mAP comes from; timing may add its own note
        rows.append(bench_artifact(row, folder, bgr, tensors, threads, warmup, runs, index))
        if note and row.note != note:
            row.note = f"{row.note}; {note}" if row.note else note
    return rows


def _artifact_formats(
    artifact: Any, names: list[str], formats: str, skipped: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """One exported model is benchmarked in its own format only (refused when --formats leaves it out)."""
    if artifact.format not in names:
        raise PicodetError(
            f"{artifact.path} is a {artifact.format} model but --formats {formats} leaves {artifact.format} out",
            f"add {artifact.format} to --formats or drop --formats",
        )
    return [artifact.format], {k: v for k, v in skipped.items() if k == artifact.format}


def _add_throughput(rows: list[BenchRow], gflops: float | None, peak: float | None) -> None:
    for row in rows:
        if gflops is None or row.latency is None or row.status != "ok":
            continue
        row.gflops_per_s = gflops / (row.latency.mean / 1e3)
        row.peak_fraction = row.gflops_per_s / peak if peak and row.device == "host" else None


def _check(req: BenchRequest) -> tuple[int, int]:
    """Refuse bad flag combinations before any work: (warm-up runs, timed runs) after the emulation cap."""
    _check_device(req.device, req.adb, req.emulate)
    if req.warmup < 0 or req.runs < 1:
        raise PicodetError("--warmup must be >= 0 and --runs >= 1")
    if req.quant_dir is not None:
        from .int8 import is_quant_folder

        if not is_quant_folder(req.quant_dir):
            raise PicodetError(f"{req.quant_dir} is not a `picodet quantize` folder", "pass one with quant_report.json")
        if req.device != "cpu":
            raise PicodetError("INT8 rows are timed on this host only", "drop --int8 or use --device cpu")
    if req.overrides and not (isinstance(req.data, str | Path) and Path(req.data).suffix == ".toml"):
        raise PicodetError("--set overrides the recipe given as --data", "add --data RECIPE.toml or drop --set")
    if not req.emulate:
        return req.warmup, req.runs
    from .emulate import MAX_RUNS, MAX_WARMUP

    if req.data is not None:
        raise PicodetError("--emulate measures no mAP (seconds per image under qemu)", "drop --data")
    return min(req.warmup, MAX_WARMUP), min(req.runs, MAX_RUNS)


def bench(
    req: BenchRequest, progress: Callable[[str], None] = lambda _: None, log: Callable[[str], None] = lambda _: None
) -> BenchReport:
    """Benchmark `req.model` (zoo name, architecture + weights, run weights file, or export folder) in every format.

    Iterating the result gives the rows; `.header` holds the model, FLOPs, host and settings. `req.adb` is a
    device serial ("" for the only connected device) and needs `device="arm"`; so does `emulate` (the aarch64
    runtimes under qemu-user on an x86_64 host: outputs verified against the Paddle model, timings meaningless;
    see emulate.py). `progress` receives the steps, `log` every adb command line.
    """
    from ..data.records import DatasetIndex
    from ..export.formats import select_formats
    from ..settings import get_settings
    from .host import environment
    from .inputs import image_files, load_images, load_index
    from .local import bench_artifact
    from .peak import measure_peak_gflops
    from .source import resolve_source

    warmup, runs = _check(req)
    threads = req.threads or os.cpu_count() or 1
    chosen, skipped = select_formats(req.formats, fp16=req.fp16, postprocess="none", target=None, opset=None)
    names = [f.name for f in chosen]
    emulator = _emulator(names, skipped, req.emulate_cpu, progress) if req.emulate else None
    phone, phone_model = None, None
    if req.adb is not None:
        from .adb import Adb, check_affinity, match_runner

        check_affinity(req.affinity)
        for path in req.runners:
            match_runner(Path(path))
        phone = Adb(req.adb or None, log=log)
        phone_model = phone.connect()
    images_path = Path(req.images) if req.images else None
    data = req.data
    index = (
        data if isinstance(data, DatasetIndex) or data is None else load_index(Path(data), images_path, req.overrides)
    )
    num_classes = len(index.class_names) if index is not None else None
    source = resolve_source(req.model, req.weights, req.imgsz, num_classes, req.cache_dir)
    if source.artifact is not None:
        names, skipped = _artifact_formats(source.artifact, names, req.formats, skipped)
    quant_dir = _quant_dir(source, req)
    files = image_files(images_path, index)
    bgr, tensors = load_images(files, source.input_size)
    cache = get_settings(req.cache_dir).cache_dir
    settings = {
        "adb": phone, "runners": [Path(p) for p in req.runners], "cache_root": cache, "threads": threads,
        "warmup": warmup, "runs": runs, "affinity": req.affinity,
    }  # fmt: skip
    rows = []
    with contextlib.ExitStack() as scratch:
        exported = _artifacts(source, names, req.fp16, req.verify, cache, req.export_dir, progress, scratch)
        if emulator is not None:
            from .emulate import reference

            feeds, expected = reference(source)  # after exporting: a dygraph call first breaks Paddle's dy2static
        for name in names:
            item = exported[name]
            row = BenchRow(name, size_mb=item.size_mb, reused=item.reused, device=phone_model if phone else "host")
            row.precision = "fp16" if req.fp16 else "fp32"
            rows.append(row)
            if item.folder is None:
                row.fail(item.status if item.status != "ok" else "failed", item.error or "export failed", item.hint)
            elif phone is not None:
                progress(f"benchmarking {name} on {phone_model}")
                _device_row(row, item.folder, source, settings)
            elif emulator is not None:
                progress(f"running {name} on {emulator.device}")
                _emulated_row(row, item.folder, emulator, feeds, expected, threads, warmup, runs)
            else:
                progress(f"benchmarking {name}")
                bench_artifact(row, item.folder, bgr, tensors, threads, warmup, runs, index)
        if quant_dir is not None and phone is None and emulator is None:
            rows += _int8_rows(quant_dir, names, bgr, tensors, threads, warmup, runs, index, progress)
    if quant_dir is not None:
        from .int8 import add_speedups

        add_speedups(rows, quant_dir)
    rows += [BenchRow(name, status="skipped", note=reason) for name, reason in skipped.items()]
    peak = measure_peak_gflops()
    if emulator is None:  # emulated latencies say nothing about throughput
        _add_throughput(rows, source.gflops, peak)
    published = _published(source, req.weights)
    rows += [published] if published else []
    header = {
        "model": source.name, "input_size": source.input_size, "num_classes": source.num_classes,
        "weights_sha256": source.weights_sha256, "gflops": source.gflops, "params": source.params,
        "peak_gflops": round(peak, 2), "peak_probe": PEAK_PROBE,
        "device": phone_model if phone else emulator.device if emulator else req.device,
        "emulated": {"cpu": emulator.cpu, "note": "qemu-user: outputs verified, latency meaningless"}
        if emulator else None,
        "threads": threads, "fp16": req.fp16, "warmup": warmup, "runs": runs, "images": [str(p) for p in files],
        "data": index.summary() if index is not None else None, "map_unit": MAP_UNIT,
        "host": environment(req.command),
    }  # fmt: skip
    return BenchReport(header, rows)


def _stage_quant_dir(recipe: Any) -> Path | None:
    """The quantize stage's folder (`<output.dir>/quant`) when it ran: its INT8 rows join the bench stage."""
    from .int8 import is_quant_folder

    folder = Path(recipe.output.dir) / "quant"
    return folder if is_quant_folder(folder) else None


def run_bench_stage(recipe: Any, weights: Path | None, export_dir: Path | None) -> dict[str, Any]:
    """The `bench` stage of `picodet run`: the recipe's [bench] settings on the stage's weights (JSON-able)."""
    from .inputs import recipe_index

    settings = recipe.bench
    if settings.device not in DEVICES:
        raise PicodetError(f"bench.device = '{settings.device}' is not supported by picodet bench", "use cpu or arm")
    if weights is not None and (weights.parent / "model.json").is_file():
        model, checkpoint = str(weights), None  # a run's weights: architecture and classes from model.json
    else:
        init = recipe.weights.init
        model, checkpoint = recipe.model.arch, str(weights) if weights else (None if init in (None, "none") else init)
    request = BenchRequest(
        model,
        weights=checkpoint,
        formats=",".join(settings.formats),
        device=settings.device,
        threads=settings.threads,
        imgsz=recipe.model.input_size,
        warmup=settings.warmup,
        runs=settings.runs,
        data=recipe_index(recipe) if settings.data else None,
        export_dir=export_dir if export_dir is not None and export_dir.is_dir() else None,
        quant_dir=_stage_quant_dir(recipe),
        command=["picodet", "run", str(recipe.path)],
    )
    return bench(request).to_dict()
