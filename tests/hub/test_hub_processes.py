"""Real `picodet pull` processes: two at once share one download; a killed one leaves only its `.part`."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from picodet_cli.hub.pull import pull

REPO = Path(__file__).resolve().parents[2]
FILE = "picodet_s_416_coco.pdparams"


def start_pull(mirror: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "picodet_cli", "pull", "s-416", "--mirror", mirror, "--json"],
        cwd=REPO,
        env=os.environ.copy(),  # carries the test's PICODET_HOME and PICODET_RETRY_DELAY
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stderr_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    return lines


def wait_for(lines: queue.Queue[str], needle: str, timeout: float = 30) -> str:
    seen = []
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if needle in line:
            return "".join(seen)


def test_two_concurrent_pulls_download_once(server, make_payload, s416_path, isolated_cache: Path):
    server.files[s416_path] = body = make_payload(numel=200_000)
    server.faults[s416_path] = ["hold"]  # the first download stalls half-way until released
    first = start_pull(server.base)
    assert server.got_request.wait(30), first.communicate()
    second = start_pull(server.base)
    second_err = stderr_lines(second)
    assert "waiting for another picodet process" in wait_for(second_err, "waiting")
    server.release.set()

    out_first, err_first = first.communicate(timeout=60)
    out_second = second.communicate(timeout=60)[0]
    assert first.returncode == 0, err_first
    assert second.returncode == 0
    statuses = {json.loads(out_first)[0]["status"], json.loads(out_second)[0]["status"]}
    assert statuses == {"downloaded", "cached"}
    assert len(server.gets(s416_path)) == 1
    assert (isolated_cache / "models" / FILE).read_bytes() == body
    assert sorted(p.name for p in (isolated_cache / "models").iterdir()) == [FILE]


def test_killed_pull_leaves_only_the_part_and_the_next_run_resumes(
    server, make_payload, s416_path, isolated_cache: Path
):
    server.files[s416_path] = body = make_payload(numel=200_000)
    server.faults[s416_path] = ["hold"]
    server.etags = True
    victim = start_pull(server.base)
    assert server.got_request.wait(30)
    part = isolated_cache / "models" / (FILE + ".part")
    deadline = time.monotonic() + 30
    while not part.exists() or part.stat().st_size < len(body) // 4:  # the server stalls at one half
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    server.release.set()

    assert sorted(p.name for p in (isolated_cache / "models").iterdir()) == [f".{FILE}.part.json", FILE + ".part"]
    assert not (isolated_cache / "manifest.json").exists()
    kept = part.stat().st_size
    result = pull("s-416", mirror=server.base)
    assert result.status == "resumed" and result.path.read_bytes() == body
    assert server.requests[-1].range == f"bytes={kept}-" and server.requests[-1].status == 206
    assert (server.requests[-1].if_range or "").startswith('"'), "the resume is guarded by the ETag"
    assert sorted(p.name for p in (isolated_cache / "models").iterdir()) == [FILE], "no part or validator left"
