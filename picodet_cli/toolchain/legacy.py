"""Run `legacy_worker.py` jobs in the `legacy` toolchain (Python 3.10, paddle 2.6.2, paddlelite 2.13rc0).

Each job runs in its own process: `<toolchain python> -s legacy_worker.py <workdir>/job.json`, with a clean
environment whose PYTHONPATH is only `<workdir>/pythonpath`, a folder holding a symlink to this `picodet_cli`
package (so the worker builds the network with our model code, never with the main environment's
site-packages). Worker output goes to `<workdir>/worker.log`. A failure comes back as one `PicodetError` line
(the worker's own one-line message, or the signal for a crash) naming that log; the work folder is kept then.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from . import envs

TOOLCHAIN = "legacy"
WORKER = Path(__file__).with_name("legacy_worker.py")
PACKAGE = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT_S = 900


@contextlib.contextmanager
def work_dir(parent: Path | None = None) -> Iterator[Path]:
    """A fresh work folder, deleted afterwards unless the body raised after a worker wrote its log there."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".lite-work-", dir=parent)).resolve()
    try:
        yield path
    except BaseException:
        if not (path / "worker.log").exists():
            shutil.rmtree(path, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)


def _worker_env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(PYTHONPATH=str(pythonpath), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1", GLOG_minloglevel="2")
    return env


def _crash_message(what: str, code: int, log: Path) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{what} crashed with {signal.Signals(-code).name} (return code {code}); see {log}"
    tail = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()][-1:]
    return f"{what} failed (exit code {code}){': ' + tail[0] if tail else ''}; see {log}"


def run_job(job: dict[str, Any], workdir: Path, what: str) -> dict[str, Any]:
    """Run one worker job in `workdir` and return its result; `what` names the step in error messages."""
    python = envs.ensure(TOOLCHAIN)
    pythonpath = workdir / "pythonpath"
    if not pythonpath.exists():
        pythonpath.mkdir()
        (pythonpath / "picodet_cli").symlink_to(PACKAGE, target_is_directory=True)
    job_file, result_file, log = workdir / "job.json", workdir / "result.json", workdir / "worker.log"
    result_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps({**job, "result": str(result_file)}), encoding="utf-8")
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n### {what}\n")
        handle.flush()
        try:
            proc = subprocess.run(
                [str(python), "-s", str(WORKER), str(job_file)],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=_worker_env(pythonpath),
                cwd=workdir,
                timeout=WORKER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise PicodetError(f"{what} timed out after {WORKER_TIMEOUT_S} s", f"see {log}") from None
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {}
    if "error" in result:
        hint = f"{result['hint']}; worker log: {log}" if result.get("hint") else f"see {log}"
        raise PicodetError(f"{what} failed: {result['error']}", hint)
    if proc.returncode != 0 or "ok" not in result:
        raise PicodetError(_crash_message(what, proc.returncode, log))
    return result["ok"]
