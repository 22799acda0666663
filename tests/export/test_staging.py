"""Temp + rename: `kill -9` during an export and a full disk leave nothing half-written and no temp folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from picodet_cli.export.staging import PREFIX, Staging, clean_stale

REPO = Path(__file__).resolve().parents[2]
EXPORT = ["picodet-s", "--imgsz", "64", "--no-verify"]


def picodet(args: list[str], tmp: Path, preamble: str = "") -> subprocess.Popen:
    """`picodet ARGS` in a child process whose temp folder is `tmp`."""
    code = f"import sys\n{preamble}\nfrom picodet_cli.cli.main import run\nsys.argv = ['picodet', *sys.argv[1:]]\nrun()"
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PICODET_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live = tmp_path / f"{PREFIX}{dead.pid}-abc", tmp_path / f"{PREFIX}{os.getpid()}-abc"
    for folder in (stale, live):
        (folder / "onnx").mkdir(parents=True)
        (folder / "onnx" / "model.raw.onnx").write_bytes(b"partial")
    assert clean_stale(tmp_path) == [stale] and live.is_dir() and not stale.exists()


def test_publish_replaces_a_folder_whole(tmp_path):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "old.txt").write_text("old")
    staging = Staging(tmp_path)
    (staging.folder("onnx") / "model.onnx").write_text("new")
    staging.publish("onnx")
    staging.close()
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == ["model.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]


def test_kill_9_during_an_export_leaves_no_partial_file_and_the_next_run_cleans_up(tmp_path):
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    proc = picodet(["export", *EXPORT, "--to", "onnx", "--out", str(out)], tmp)
    deadline = time.monotonic() + 300
    while not any(p.is_file() for p in out.glob(f"{PREFIX}*/**/*")):  # the child is writing its files
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "onnx").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(PREFIX)], "the killed run's staging folder"
    assert list(tmp.iterdir()) == []  # nothing in the system temp folder (no picodet-onnx-src-*)

    again = picodet(["export", *EXPORT, "--to", "paddle", "--out", str(out)], tmp)
    assert again.wait(timeout=600) == 0, again.communicate()
    assert sorted(p.name for p in out.iterdir()) == ["export_report.json", "paddle"]
    assert list(tmp.iterdir()) == []


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """A 1 MB file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, as ENOSPC on a full disk)."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    limit = (
        "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))"
    )
    proc = picodet(["export", *EXPORT, "--to", "onnx", "--out", str(out)], tmp, limit)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr
    assert "error: no space left to write" in stderr and "Traceback" not in stderr, stderr
    assert sum(line.startswith("error:") for line in stderr.splitlines()) == 1
    assert list(out.iterdir()) == [] and list(tmp.iterdir()) == []
