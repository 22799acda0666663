"""Worker jobs in the legacy toolchain: clean environment, one-line errors, crash reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.toolchain import legacy


def test_crash_message_names_the_signal_and_the_log(tmp_path: Path):
    log = tmp_path / "worker.log"
    log.write_text("Loading topology data\n")
    message = legacy._crash_message("paddle_lite_opt (x86)", -11, log)
    assert message == f"paddle_lite_opt (x86) crashed with SIGSEGV (return code -11); see {log}"
    assert legacy._crash_message("x", 2, log) == f"x failed (exit code 2): Loading topology data; see {log}"


def test_worker_environment_holds_only_our_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/site-packages")
    monkeypatch.setenv("PYTHONHOME", "/somewhere")
    env = legacy._worker_env(tmp_path)
    assert env["PYTHONPATH"] == str(tmp_path) and "PYTHONHOME" not in env and env["PYTHONNOUSERSITE"] == "1"


@pytest.mark.slow
def test_worker_errors_come_back_as_one_line(legacy_env: Path, tmp_path: Path):
    with pytest.raises(PicodetError) as info:
        legacy.run_job({"action": "save", "postprocess": "none"}, tmp_path, "saving")  # no model fields
    expected = "KeyError: 'arch'"
    assert info.value.message == f"saving failed: {expected}"
    assert "\n" not in info.value.message and str(tmp_path / "worker.log") in info.value.hint
    log = (tmp_path / "worker.log").read_text()
    assert "Traceback" in log  # the full story stays in the log
    assert json.loads((tmp_path / "result.json").read_text())["error"] == info.value.message.split("failed: ", 1)[1]


@pytest.mark.slow
def test_worker_sees_our_package_but_not_the_main_site_packages(legacy_env: Path, tmp_path: Path):
    pythonpath = tmp_path / "pythonpath"
    pythonpath.mkdir()
    (pythonpath / "picodet_cli").symlink_to(legacy.PACKAGE, target_is_directory=True)
    code = "import sys, paddle, picodet_cli.models.detector as d; print(paddle.__version__, d.__file__, sys.path)"
    env = legacy._worker_env(pythonpath)
    proc = subprocess.run([str(legacy_env), "-s", "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    version, path, sys_path = proc.stdout.split(" ", 2)
    assert version == "2.6.2" and path.startswith(str(pythonpath))
    assert "python3.11" not in sys_path


def test_work_dir_is_kept_only_when_a_worker_log_explains_a_failure(tmp_path: Path):
    with legacy.work_dir(tmp_path) as ok:
        (ok / "worker.log").write_text("fine")
    with pytest.raises(PicodetError), legacy.work_dir(tmp_path) as early:
        raise PicodetError("toolchain missing")  # nothing ran: nothing to keep
    with pytest.raises(PicodetError), legacy.work_dir(tmp_path) as failed:
        (failed / "worker.log").write_text("Traceback ...")
        raise PicodetError("worker failed")
    assert not ok.exists() and not early.exists() and (failed / "worker.log").is_file()
