"""Runs INSIDE the emulated aarch64 Python (arm-emulator toolchain): one artifact on saved input tensors.

Usage: `python3.11 emulate_worker.py JOB.json` with {"runtime", "model", "fp16", "threads", "inputs" (.npz of
[1, 3, H, W] arrays "0", "1", ...), "warmup", "runs", "out"}. The artifact is loaded by picodet's own runtime
adapter (numpy + the runtime only; `picodet_cli` is on PYTHONPATH through a symlink), so FP16 options match the
host's. Writes `<out>/outputs.npz` ("<input>_<output>" arrays) and `<out>/result.json` (seconds per timed
run, runtime version, machine).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np


def main(job_file: str) -> int:
    from picodet_cli.bench.timing import time_calls
    from picodet_cli.runtimes.registry import runtime_class

    job = json.loads(Path(job_file).read_text())
    runtime = runtime_class(job["runtime"])()
    runtime.load(Path(job["model"]), threads=job["threads"], fp16=job["fp16"])
    with np.load(job["inputs"]) as data:
        inputs = [data[str(i)] for i in range(len(data.files))]
    outputs = [runtime.run({"image": x}) for x in inputs]
    seconds = time_calls(lambda i: runtime.run({"image": inputs[i % len(inputs)]}), job["warmup"], job["runs"])
    out = Path(job["out"])
    np.savez(out / "outputs.npz", **{f"{i}_{k}": o for i, outs in enumerate(outputs) for k, o in enumerate(outs)})
    result = {"seconds": seconds, "version": runtime.version(), "machine": platform.machine()}
    (out / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
