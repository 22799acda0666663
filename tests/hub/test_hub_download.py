"""download(): Range resume, servers that ignore Range, retries, and one-line errors for each failure."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from picodet_cli.errors import DownloadError, NotInCache
from picodet_cli.hub.download import download

PATH = "/models/m.pdparams"


@pytest.fixture
def served(server, make_payload):
    server.files[PATH] = make_payload()
    return server, server.files[PATH]


def test_fresh_download_writes_the_whole_file(served, tmp_path: Path):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert (got.size, got.reused) == (len(body), 0)
    assert [r.range for r in server.requests] == [None]


def test_dropped_connection_resumes_without_refetching(served, tmp_path: Path):
    server, body = served
    cut = 50_000
    server.faults[PATH] = [("drop", cut)]
    part = tmp_path / "m.pdparams.part"
    download(server.url(PATH), part)
    assert part.read_bytes() == body
    first, second = server.requests
    assert (first.range, first.sent) == (None, cut)
    assert (second.range, second.status) == (f"bytes={cut}-", 206)
    assert second.sent == len(body) - cut
    assert sum(r.sent for r in server.requests) == len(body)


def test_existing_part_is_continued_with_range(served, tmp_path: Path):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    part.write_bytes(body[:30_000])
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert got.reused == 30_000
    assert server.requests[0].range == "bytes=30000-" and server.requests[0].sent == len(body) - 30_000


def test_server_ignoring_range_restarts_and_truncates(served, tmp_path: Path):
    server, body = served
    server.ignore_range = True
    part = tmp_path / "m.pdparams.part"
    part.write_bytes(b"garbage that must not survive")
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert got.reused == 0
    assert server.requests[0].status == 200 and server.requests[0].range is not None


def test_complete_part_is_accepted_on_416(served, tmp_path: Path):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    part.write_bytes(body)
    assert download(server.url(PATH), part).size == len(body)
    assert part.read_bytes() == body and server.requests[0].status == 416


def test_server_error_once_is_retried(served, tmp_path: Path):
    server, body = served
    server.faults[PATH] = ["500"]
    part = tmp_path / "m.pdparams.part"
    download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert [r.status for r in server.requests] == [500, 200]


def test_persistent_server_error_gives_up_after_attempts(served, tmp_path: Path):
    server, _ = served
    server.faults[PATH] = ["500"] * 10
    with pytest.raises(DownloadError, match=r"HTTP 500.*gave up after 3 attempts") as info:
        download(server.url(PATH), tmp_path / "m.part", attempts=3)
    assert len(server.requests) == 3
    assert "\n" not in str(info.value)


def test_404_is_one_line_with_the_url_and_not_retried(server, tmp_path: Path):
    url = server.url("/models/missing.pdparams")
    with pytest.raises(DownloadError) as info:
        download(url, tmp_path / "missing.part")
    assert "404" in info.value.message and url in info.value.message
    assert "\n" not in str(info.value)
    assert len(server.requests) == 1


def test_body_shorter_than_content_length_fails(served, tmp_path: Path):
    server, _ = served
    server.extra_length = 1000  # every answer promises more than it sends
    part = tmp_path / "m.pdparams.part"
    with pytest.raises(DownloadError, match="gave up after 4 attempts"):
        download(server.url(PATH), part)
    assert len(server.requests) == 4


def test_connection_refused_hints_at_network_mirror_and_offline(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError) as info:
        download(f"http://127.0.0.1:{port}/m.pdparams", tmp_path / "m.part", attempts=2)
    assert "cannot connect to 127.0.0.1" in info.value.message
    assert "--mirror" in info.value.hint and "PICODET_OFFLINE=1" in info.value.hint


def test_timeout_is_reported(served, tmp_path: Path):
    server, _ = served
    server.faults[PATH] = ["hold"]
    with pytest.raises(DownloadError, match="timed out"):
        download(server.url(PATH), tmp_path / "m.part", attempts=1, timeout=0.3)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_names_the_folder_and_free_space(served, tmp_path: Path):
    server, _ = served
    part = tmp_path / "m.pdparams.part"
    part.symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(DownloadError) as info:
        download(server.url(PATH), part)
    assert f"disk full while writing to {tmp_path}" in info.value.message and "free" in info.value.message
    assert len(server.requests) == 1  # not retried


def test_offline_never_reaches_the_server(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server, _ = served
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    with pytest.raises(NotInCache, match="PICODET_OFFLINE"):
        download(server.url(PATH), tmp_path / "m.part")
    assert server.requests == []
