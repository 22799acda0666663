"""x86 Paddle-Lite timing: one process in the `legacy` toolchain times every run (see lite_worker.py).

`RuntimeModel` starts a process per call for Lite, so its wall time is mostly process start-up; this runs the
warm-up and the timed calls in one process instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import PicodetError

WORKER = Path(__file__).with_name("lite_worker.py")
TIMEOUT_S = 900


def _clean_env() -> dict[str, str]:
    """This environment without Python settings of the main interpreter (the toolchain has its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    return env | {"PYTHONNOUSERSITE": "1", "GLOG_minloglevel": "2"}


def time_lite(
    nb: Path, tensors: list[np.ndarray], warmup: int, runs: int
) -> tuple[list[float], list[list[np.ndarray]], str]:
    """(seconds per timed run, outputs per input, Paddle-Lite version) of an x86 `.nb`."""
    from ..toolchain import envs
    from ..toolchain.legacy import TOOLCHAIN

    python = envs.ensure(TOOLCHAIN)
    with tempfile.TemporaryDirectory(prefix="picodet-lite-bench-") as tmp:
        work = Path(tmp)
        np.save(work / "inputs.npy", np.stack(tensors))
        job = {"nb": str(nb.resolve()), "inputs": str(work / "inputs.npy"), "warmup": warmup, "runs": runs, "out": tmp}
        (work / "job.json").write_text(json.dumps(job))
        proc = subprocess.run(
            [str(python), "-s", str(WORKER), str(work / "job.json")], capture_output=True, text=True,
            timeout=TIMEOUT_S, env=_clean_env(), check=False,
        )  # fmt: skip
        if proc.returncode:
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            raise PicodetError(f"Paddle-Lite benchmark failed: {tail[-1] if tail else proc.returncode}")
        timing = json.loads((work / "timing.json").read_text())
        count = len(list(work.glob("outputs_*.npy")))
        stacked = [np.load(work / f"outputs_{k}.npy") for k in range(count)]
        outputs = [[s[i] for s in stacked] for i in range(len(tensors))]
    return timing["seconds"], outputs, str(timing["version"])
