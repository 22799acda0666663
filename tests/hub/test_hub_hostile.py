"""Hostile mirrors and files, full disks, through the real CLI: one clear line each, nothing half-written left.

The full disk is real: a 192 KB tmpfs mounted in a private mount namespace (`unshare -rm`, skipped where user
namespaces are not allowed), and a file size limit (RLIMIT_FSIZE, which makes writes fail with EFBIG) that works
everywhere. Crafted pickles are built here, never stored in the repository.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app

REPO = Path(__file__).resolve().parents[2]
FILE = "picodet_s_416_coco.pdparams"
BOMB = b"\x80\x04cnumpy\nndarray\n(J\xa0\x86\x01\x00J\xa0\x86\x01\x00K\ntR."  # ndarray((100000, 100000, 10))
HUGE_BYTES = b"\x80\x04}\x94\x8c\x01w\x94\x8e" + (1 << 40).to_bytes(8, "little") + b"abc"  # a 1 TB byte string
runner = CliRunner()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "locks" not in p.parts)


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("payload", [BOMB, HUGE_BYTES], ids=["ndarray-bomb", "huge-bytes"])
def test_pull_from_a_hostile_mirror_is_one_line_and_leaves_no_part(server, s416_path, isolated_cache, payload):
    server.files[s416_path] = payload
    result = runner.invoke(app, ["pull", "s-416", "--mirror", server.base])
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "is not a loadable checkpoint" in line and "moved to" in line
    assert files_under(isolated_cache / "models") == []
    assert len(list((isolated_cache / "quarantine").iterdir())) == 1


@pytest.mark.parametrize("payload", [BOMB, HUGE_BYTES], ids=["ndarray-bomb", "huge-bytes"])
def test_predict_with_hostile_weights_is_one_line(tmp_path: Path, payload: bytes):
    import cv2

    weights = tmp_path / "evil.pdparams"
    weights.write_bytes(payload)
    image = tmp_path / "img.jpg"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    result = runner.invoke(app, ["predict", "picodet-s", str(image), "--weights", str(weights)])
    assert result.exit_code == 1
    assert str(weights) in one_error_line(result.output)


def test_redirect_loop_is_one_line(server, isolated_cache):
    server.redirects = {"/a.pdparams": "/b.pdparams", "/b.pdparams": "/a.pdparams"}
    result = runner.invoke(app, ["pull", server.url("/a.pdparams")])
    assert result.exit_code == 1
    assert "too many redirects" in one_error_line(result.output)


def test_changed_upstream_bytes_are_refused_until_trust_new(server, make_payload, s416_path, isolated_cache):
    server.files[s416_path] = make_payload()
    assert runner.invoke(app, ["pull", "s-416", "--mirror", server.base]).exit_code == 0
    assert runner.invoke(app, ["cache", "rm", "s-416"]).exit_code == 0
    server.files[s416_path] = make_payload(seed=4)
    refused = runner.invoke(app, ["pull", "s-416", "--mirror", server.base, "--force"])
    assert refused.exit_code == 1
    assert "expected" in one_error_line(refused.output) and "received" in refused.output
    assert "hint: if the upstream file really changed" in refused.output and "--trust-new" in refused.output
    accepted = runner.invoke(app, ["pull", "s-416", "--mirror", server.base, "--trust-new", "--json"])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)[0]["status"] == "downloaded"


def pull_command(mirror: str) -> list[str]:
    return [sys.executable, "-m", "picodet_cli", "pull", "s-416", "--mirror", mirror]


def test_file_size_limit_removes_the_part_and_says_so(server, make_payload, s416_path, isolated_cache):
    """RLIMIT_FSIZE: writes past 100 KB fail with EFBIG (Python ignores SIGXFSZ)."""
    server.files[s416_path] = make_payload()  # about 240 KB

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    done = subprocess.run(
        pull_command(server.base), cwd=REPO, capture_output=True, text=True, preexec_fn=limit, timeout=120
    )
    assert done.returncode == 1, done.stderr
    line = one_error_line(done.stderr)
    assert "file size limit reached" in line and "partial download was removed" in line
    assert files_under(isolated_cache / "models") == []


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and a tmpfs mount in a user namespace")
def test_full_disk_removes_the_part_and_says_so(server, make_payload, s416_path, tmp_path: Path):
    """A real ENOSPC: the cache lives on a 192 KB tmpfs, the checkpoint is about 240 KB."""
    server.files[s416_path] = make_payload()
    home = tmp_path / "small-disk"
    home.mkdir()
    command = " ".join(pull_command(server.base))
    script = (
        f"mount -t tmpfs -o size=192k tmpfs {home} || exit 99\n"
        f"{command} 2> {tmp_path}/stderr.txt; echo $? > {tmp_path}/rc.txt\n"
        f"find {home} -type f ! -path '*/locks/*' > {tmp_path}/files.txt\n"
    )
    env = {**os.environ, "PICODET_HOME": str(home)}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0
    stderr = (tmp_path / "stderr.txt").read_text()
    assert (tmp_path / "rc.txt").read_text().strip() == "1", stderr
    line = one_error_line(stderr)
    assert f"disk full while writing to {home / 'models'}" in line and "partial download was removed" in line
    assert (tmp_path / "files.txt").read_text().split() == []
