"""`bench --device arm --emulate`: the aarch64 runtimes (formats marked `emulated` in the format table: ONNX Runtime,
ncnn, MNN) under qemu-user, checked against Paddle.

Each artifact runs in one emulated process (emulate_worker.py, arm-emulator toolchain) on the export
verification inputs (fixed random tensor + astronaut photo); the host judges its outputs against the Paddle
model's (or, for an export folder, the host runtime's) with the one verifier (export/verify.py). FP32 artifacts
get verification's FP32 limits. FP16 ones run real ARMv8.2 FP16 kernels under emulation (the x86 runtimes never
do), whose error is larger and, for MNN, not even reproducible run to run, so they are judged statistically
(`PRECISIONS["fp16-emulated"]`: mean errors and box agreement). Latency is measured but meaningless (qemu-user is
~100x slower, and not uniformly so); rows say so. Formats with ARM-only files and no aarch64 runtime on PyPI or
Debian (Paddle-Lite's arm `.nb`) are only checked to exist.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from .rows import BenchRow
from .timing import Latency

WORKER = Path(__file__).with_name("emulate_worker.py")
PACKAGE = Path(__file__).resolve().parents[1]
MAX_WARMUP, MAX_RUNS = 1, 5  # the timings mean nothing: emulated runs are capped (bench applies it)
TIMEOUT_S = 900
LATENCY_NOTE = "latency meaningless under emulation"
ARM_ONLY_NOTE = "{name} produced; not run: no aarch64 {runtime} runtime exists on PyPI or Debian"


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


def reference(source: Any) -> tuple[dict, dict | None]:
    """(verification feeds, the Paddle model's outputs on them, or None for an export folder)."""
    from ..export.deploy_graph import build_export_layer
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
    from ..export.verify import judge
    from ..runtimes.model import RuntimeModel

    row.device = emulator.device
    fmt = get_format(row.format)
    if not fmt.emulated:  # ARM-only files without an aarch64 runtime: checked to exist
        arm = sorted(p for p in folder.iterdir() if fmt.is_arm_only(p.name))
        if not arm:
            return row.fail("failed", f"{folder} has no ARM {fmt.name} file", "export with --target arm")
        row.artifact, row.size_mb = str(arm[0]), round(arm[0].stat().st_size / 1e6, 4)
        row.note = ARM_ONLY_NOTE.format(name=arm[0].name, runtime=fmt.runtime_name)
        return row
    host = RuntimeModel(folder, threads=threads)
    fp16 = bool(host.meta.get("fp16"))
    names = list(feeds)
    if reference is None:  # an export folder: no Paddle model, the host runtime is the reference
        reference = {key: host.runtime.run(feed) for key, feed in feeds.items()}
    inputs = [feeds[k]["image"] for k in names]
    runtime = fmt.runtime_name
    got, seconds, version = run_emulated(emulator, runtime, host.artifact.path, fp16, inputs, threads, (warmup, runs))
    precision = "fp16-emulated" if fp16 else "fp32"
    check = judge(precision, host.meta, feeds, reference, dict(zip(names, got, strict=True)))
    row.artifact, row.runtime, row.runtime_version, row.threads = str(host.artifact.path), runtime, version, threads
    row.latency, row.verification = Latency.from_seconds(seconds), check.to_dict()
    row.note = f"{'FP16' if fp16 else 'FP32'} outputs verified; {LATENCY_NOTE}"
    if not check.ok:
        return row.fail("failed", "emulated outputs diverged: " + "; ".join(check.failures))
    return row
