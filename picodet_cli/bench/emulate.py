"""`bench --device arm --emulate`: aarch64 ONNX Runtime / ncnn / MNN under qemu-user, checked against Paddle.

Each artifact runs in one emulated process (emulate_worker.py, arm-emulator toolchain) on the export
verification inputs (fixed random tensor + astronaut photo); the host compares its outputs with the Paddle
model's (or, for an export folder, with the host runtime's) using export/verify.py's checks. FP32 artifacts
get verification's tolerances. FP16 ones run real ARMv8.2 FP16 kernels under emulation (the x86 runtimes never
do), whose error is larger and, for MNN, not even reproducible run to run, so they are judged statistically:
mean absolute error per output and box agreement (EMULATED_FP16). Latency is measured but meaningless
(qemu-user is ~100x slower, and not uniformly so); rows say so. No aarch64 Paddle-Lite runtime exists on PyPI or
Debian, so for `lite` only the arm `.nb` is checked to exist.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PicodetError
from .rows import BenchRow
from .timing import Latency

if TYPE_CHECKING:
    from ..export.formats import Format
    from ..export.verify import Verification

WORKER = Path(__file__).with_name("emulate_worker.py")
PACKAGE = Path(__file__).resolve().parents[1]
RUNTIMES = {"onnx": "onnxruntime", "ncnn": "ncnn", "mnn": "mnn"}  # formats with an aarch64 runtime
EMULATED_FORMATS = (*RUNTIMES, "lite")
MAX_WARMUP, MAX_RUNS = 1, 5  # the timings mean nothing: emulated runs are capped (bench applies it)
TIMEOUT_S = 900
# FP16 under emulation: mean |error| per output (scores: absolute; box logits: relative to max(1, their largest
# magnitude)) and the fraction of the top-100 boxes matched with IoU >= box_iou and the same class. Measured on
# PicoDet-S (golden weights, 64 px, neoverse-n1): ncnn 0.034 logit error and 88% boxes at IoU 0.5 (its x86 FP32
# fallback: 100%), MNN 0.004 and 94-99% at IoU 0.9 (varying run to run).
EMULATED_FP16 = {"score_mean_abs": 0.01, "logit_mean_rel": 0.05, "box_iou": 0.5, "box_agreement": 0.8}
LATENCY_NOTE = "latency meaningless under emulation"
LITE_NOTE = "arm .nb produced ({name}); not run: no aarch64 Paddle-Lite runtime exists on PyPI or Debian"


@dataclass(frozen=True)
class Emulator:
    """A provisioned arm-emulator toolchain folder and the CPU model to emulate."""

    folder: Path
    cpu: str

    @property
    def device(self) -> str:
        return f"qemu-aarch64 {self.cpu} (emulated)"


def run_emulated(
    emulator: Emulator, runtime: str, model: Path, fp16: bool, inputs: list[np.ndarray], threads: int, timing: tuple
) -> tuple[list[list[np.ndarray]], list[float], str]:
    """(outputs per input, seconds per timed run, runtime version) of `model` run by the aarch64 `runtime`.

    `timing` is (warm-up runs, timed runs).
    """
    from ..toolchain.arm_emulator import python_command

    with tempfile.TemporaryDirectory(prefix="picodet-emulate-") as tmp:
        work = Path(tmp)
        (work / "pythonpath").mkdir()
        (work / "pythonpath" / "picodet_cli").symlink_to(PACKAGE, target_is_directory=True)
        np.savez(work / "inputs.npz", **{str(i): x for i, x in enumerate(inputs)})
        job = {
            "runtime": runtime, "model": str(model.resolve()), "fp16": fp16, "threads": threads,
            "inputs": str(work / "inputs.npz"), "warmup": timing[0], "runs": timing[1], "out": tmp,
        }  # fmt: skip
        (work / "job.json").write_text(json.dumps(job))
        argv = python_command(
            emulator.folder, [str(WORKER), str(work / "job.json")], emulator.cpu, [work / "pythonpath"]
        )
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp, check=False)
        except subprocess.TimeoutExpired:
            raise PicodetError(f"the emulated {runtime} run timed out after {TIMEOUT_S} s") from None
        if proc.returncode:
            raise PicodetError(f"the emulated {runtime} run {_failure(proc)}")
        result = json.loads((work / "result.json").read_text())
        with np.load(work / "outputs.npz") as data:
            count = len(data.files) // len(inputs)
            outputs = [[data[f"{i}_{k}"] for k in range(count)] for i in range(len(inputs))]
    return outputs, result["seconds"], str(result["version"])


def _failure(proc: subprocess.CompletedProcess) -> str:
    if proc.returncode < 0:
        return f"crashed with {signal.Signals(-proc.returncode).name}"
    tail = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()][-1:]
    return f"failed (exit code {proc.returncode}){': ' + tail[0] if tail else ''}"


def judge(fmt: Format, meta: dict[str, Any], feeds: dict, reference: dict, outputs: dict) -> Verification:
    """Verification of emulated `outputs` against `reference` (both {feed name: [arrays]}), see module doc."""
    from ..export.verify import MATCH_IOU, Verification, judge_input

    fp16 = bool(meta["fp16"])
    need = EMULATED_FP16["box_agreement"] if fp16 else fmt.box_agreement
    iou = EMULATED_FP16["box_iou"] if fp16 else MATCH_IOU
    extra = partial(_fp16_failures, meta["outputs"]) if fp16 else None
    result = Verification(ok=True)
    if fp16:
        result.note = f"emulated FP16 kernels judged statistically (mean errors, top-100 boxes): {EMULATED_FP16}"
    for key, feed in feeds.items():
        result.inputs[key], failures = judge_input(
            fmt, meta, key, feed, reference[key], outputs[key], need, iou=iou, extra_failures=extra, record_iou=True
        )
        result.failures += failures
    result.ok = not result.failures
    return result


def _fp16_failures(names: list[str], ref: list[np.ndarray], got: list[np.ndarray], report: dict) -> list[str]:
    """Mean-error checks of FP16 outputs (recorded in `report`); failure lines."""
    failures = []
    for name, r, g in zip(names, ref, got, strict=True):
        err = np.abs(np.asarray(g, np.float64).reshape(r.shape) - r)
        if name.startswith("scores"):
            mean, limit = float(err.mean()), EMULATED_FP16["score_mean_abs"]
        else:
            mean, limit = float(err.mean() / max(float(np.abs(r).max()), 1.0)), EMULATED_FP16["logit_mean_rel"]
        report[name].update(mean_error=mean, mean_limit=limit)
        if mean > limit:
            failures.append(f"output {name} diverged: mean error {mean:.3g} > {limit:.3g}")
    return failures


def reference(source: Any) -> tuple[dict, dict | None]:
    """(verification feeds, the Paddle model's outputs on them, or None for an export folder)."""
    from ..export.heads import build_export_layer
    from ..export.verify import reference_outputs, verification_inputs

    feeds = verification_inputs(source.input_size, "none")
    if source.model is None:
        return feeds, None
    return feeds, reference_outputs(build_export_layer(source.model, "none"), feeds)


def emulated_row(
    row: BenchRow,
    folder: Path,
    emulator: Emulator,
    feeds: dict,
    reference: dict | None,
    threads: int,
    warmup: int,
    runs: int,
) -> BenchRow:
    """Fill `row` from an emulated run of the artifact in `folder`, verified (see module docstring)."""
    from ..export.formats import get_format
    from ..runtimes.model import RuntimeModel

    row.device = emulator.device
    if row.format == "lite":
        arm = sorted(p for p in folder.glob("*.nb") if "arm" in p.name)
        if not arm:
            return row.fail("failed", f"{folder} has no arm .nb file", "export with --target arm")
        row.artifact, row.size_mb = str(arm[0]), round(arm[0].stat().st_size / 1e6, 4)
        row.note = LITE_NOTE.format(name=arm[0].name)
        return row
    host = RuntimeModel(folder, threads=threads)
    fmt, fp16 = get_format(row.format), bool(host.meta.get("fp16"))
    names = list(feeds)
    if reference is None:  # an export folder: no Paddle model, the host runtime is the reference
        reference = {key: host.runtime.run(feed) for key, feed in feeds.items()}
    runtime, inputs = RUNTIMES[row.format], [feeds[k]["image"] for k in names]
    got, seconds, version = run_emulated(emulator, runtime, host.artifact.path, fp16, inputs, threads, (warmup, runs))
    check = judge(fmt, host.meta, feeds, reference, dict(zip(names, got, strict=True)))
    row.artifact, row.runtime, row.runtime_version, row.threads = str(host.artifact.path), runtime, version, threads
    row.latency, row.verification = Latency.from_seconds(seconds), check.to_dict()
    row.note = f"{'FP16' if fp16 else 'FP32'} outputs verified; {LATENCY_NOTE}"
    if not check.ok:
        return row.fail("failed", "emulated outputs diverged: " + "; ".join(check.failures))
    return row
