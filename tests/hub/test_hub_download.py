"""download(): Range resume guarded by the server's validator, servers that ignore Range or If-Range, files that
change upstream, stalls, deadlines, redirect loops, retries, a full disk, and one-line errors for each failure."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from picodet_cli.errors import DownloadError, NotInCache
from picodet_cli.hub.download import StallRule, download, validator_path

PATH = "/models/m.pdparams"


def seed_part(part: Path, data: bytes, url: str, etag: str | None = None) -> None:
    """A part as an interrupted download of `url` leaves it: the bytes plus the validator beside them."""
    part.write_bytes(data)
    validator_path(part).write_text(json.dumps({"url": url, "etag": etag, "last_modified": None}))


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
    assert not validator_path(part).exists(), "the validator goes once the part is complete"


def test_existing_part_is_continued_with_range(served, tmp_path: Path):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    seed_part(part, body[:30_000], server.url(PATH))
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert got.reused == 30_000
    assert server.requests[0].range == "bytes=30000-" and server.requests[0].sent == len(body) - 30_000


@pytest.mark.parametrize("origin", [None, "http://elsewhere.example/models/m.pdparams"])
def test_part_of_unknown_origin_or_another_url_is_never_resumed_onto(served, tmp_path: Path, origin: str | None):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    if origin is None:
        part.write_bytes(b"\x80\x04 bytes of nobody knows what")
    else:
        seed_part(part, body[:30_000], origin)
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body and got.reused == 0
    assert [r.range for r in server.requests] == [None]


def test_server_ignoring_range_restarts_and_truncates(served, tmp_path: Path):
    server, body = served
    server.ignore_range = True
    part = tmp_path / "m.pdparams.part"
    seed_part(part, b"garbage that must not survive", server.url(PATH))
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body
    assert got.reused == 0
    assert server.requests[0].status == 200 and server.requests[0].range is not None


def test_resume_sends_if_range_with_the_etag_it_got(served, tmp_path: Path):
    server, body = served
    server.etags = True
    server.faults[PATH] = [("drop", 40_000)]
    part = tmp_path / "m.pdparams.part"
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body and got.reused == 0
    first, second = server.requests
    assert first.if_range is None and second.range == "bytes=40000-"
    assert second.if_range and second.if_range.startswith('"')
    assert second.status == 206 and second.sent == len(body) - 40_000


@pytest.mark.parametrize("ignore_if_range", [False, True])
def test_file_changed_between_attempts_starts_over(served, make_payload, tmp_path: Path, ignore_if_range: bool):
    """The ETag changes after the first attempt: a correct server answers 200 to If-Range, a sloppy one 206 with
    the new ETag, which must not be glued onto the old bytes either."""
    server, body = served
    new = make_payload(seed=5)
    assert new != body
    server.etags, server.ignore_if_range = True, ignore_if_range
    server.faults[PATH] = [("drop", 40_000, new)]
    part = tmp_path / "m.pdparams.part"
    got = download(server.url(PATH), part)
    assert part.read_bytes() == new and got.reused == 0
    statuses = [r.status for r in server.requests]
    assert statuses == ([200, 206, 200] if ignore_if_range else [200, 200])


def test_part_from_an_earlier_version_is_replaced_on_200(served, make_payload, tmp_path: Path):
    server, body = served
    server.etags = True
    part = tmp_path / "m.pdparams.part"
    seed_part(part, make_payload(seed=9)[:30_000], server.url(PATH), etag='"an-old-version"')
    got = download(server.url(PATH), part)
    assert part.read_bytes() == body and got.reused == 0
    assert server.requests[0].if_range == '"an-old-version"' and server.requests[0].status == 200


def test_complete_part_is_accepted_on_416(served, tmp_path: Path):
    server, body = served
    part = tmp_path / "m.pdparams.part"
    seed_part(part, body, server.url(PATH))
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


def test_trickling_server_stalls_each_attempt_then_one_line(served, tmp_path: Path):
    server, _ = served
    server.faults[PATH] = [("trickle", 0.05)] * 3  # 20 bytes/s, far below the rule
    part = tmp_path / "m.pdparams.part"
    notes: list[str] = []
    rule = StallRule(min_bytes=1024, seconds=0.4)
    with pytest.raises(DownloadError) as info:
        download(server.url(PATH), part, attempts=3, stall=rule, on_retry=notes.append)
    message = info.value.message
    assert message == f"download of {server.url(PATH)} stalled: less than 1 KB in 0.4 s (gave up after 3 attempts)"
    assert len(server.requests) == 3 and len(notes) == 2 and "retrying (2/3)" in notes[0]
    assert 0 < part.stat().st_size < 1024 * 3, "what trickled in is kept for a later resume"
    assert [r.range is not None for r in server.requests] == [False, True, True]


def test_overall_deadline_ends_a_slow_but_steady_download(served, tmp_path: Path):
    server, _ = served
    server.faults[PATH] = [("trickle", 0.02)]
    with pytest.raises(DownloadError, match=r"ran past its deadline of 0\.5 s \(\d+ bytes kept\)") as info:
        download(server.url(PATH), tmp_path / "m.part", stall=StallRule(min_bytes=1, seconds=5), deadline=0.5)
    assert len(server.requests) == 1 and "again" in info.value.hint


def test_redirect_loop_is_one_line(served, tmp_path: Path):
    server, _ = served
    server.redirects = {"/a.pdparams": "/b.pdparams", "/b.pdparams": "/a.pdparams"}
    with pytest.raises(DownloadError) as info:
        download(server.url("/a.pdparams"), tmp_path / "a.part", max_redirects=3)
    assert info.value.message == f"too many redirects (more than 3) for {server.url('/a.pdparams')}"
    assert "loop" in info.value.hint and len(server.requests) == 4


def test_redirect_within_the_limit_is_followed(served, tmp_path: Path):
    server, body = served
    server.redirects = {"/old.pdparams": PATH}
    part = tmp_path / "m.part"
    download(server.url("/old.pdparams"), part)
    assert part.read_bytes() == body


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_names_the_folder_and_free_space_and_removes_the_part(served, tmp_path: Path):
    server, _ = served
    part = tmp_path / "m.pdparams.part"
    part.symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(DownloadError) as info:
        download(server.url(PATH), part)
    assert f"disk full while writing to {tmp_path}" in info.value.message and "free" in info.value.message
    assert "partial download was removed" in info.value.message
    assert len(server.requests) == 1  # not retried
    assert list(tmp_path.iterdir()) == []


def test_offline_never_reaches_the_server(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server, _ = served
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    with pytest.raises(NotInCache, match="PICODET_OFFLINE"):
        download(server.url(PATH), tmp_path / "m.part")
    assert server.requests == []
