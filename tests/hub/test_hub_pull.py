"""pull() and resolve_checkpoint(): zoo names through a mirror, URLs, local files, resume, verification, offline."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from picodet_cli.errors import ChecksumError, DownloadError, NotInCache, PicodetError
from picodet_cli.hub.cache import Cache
from picodet_cli.hub.download import validator_path
from picodet_cli.hub.events import Progress, Retrying
from picodet_cli.hub.pull import apply_mirror, pull, remove, resolve_checkpoint, url_file_name, verify

FILE = "picodet_s_416_coco.pdparams"


@pytest.fixture
def mirrored(server, make_payload, s416_path):
    """s-416's weights served at the zoo path on the local server."""
    server.files[s416_path] = make_payload()
    return server, server.files[s416_path]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_zoo_name_through_mirror_lands_complete_and_recorded(mirrored, isolated_cache: Path):
    server, body = mirrored
    result = pull("picodet_s_416_coco", mirror=server.base)
    assert result.status == "downloaded" and result.name == "s-416"
    assert result.url == server.url("/models/" + FILE)
    assert result.path == isolated_cache / "models" / FILE and result.path.read_bytes() == body
    assert (result.size, result.sha256) == (len(body), sha(body))
    assert not (isolated_cache / "models" / (FILE + ".part")).exists()
    record = json.loads((isolated_cache / "manifest.json").read_text())["files"][FILE]
    assert record["sha256"] == sha(body) and record["name"] == "s-416" and record["size"] == len(body)
    assert record["url"] == result.url and record["downloaded_at"] and record["verify"] == "ok"


def test_mirror_from_environment(mirrored, monkeypatch: pytest.MonkeyPatch):
    server, _ = mirrored
    monkeypatch.setenv("PICODET_MIRROR", server.base + "/")
    assert pull("s-416").status == "downloaded"
    assert [r.path for r in server.requests] == ["/models/" + FILE]


def test_second_pull_is_cached_without_requests(mirrored):
    server, _ = mirrored
    pull("s-416", mirror=server.base)
    again = pull("s-416", mirror=server.base)
    assert again.status == "cached" and len(server.requests) == 1


def test_url_is_cached_under_its_basename(server, make_payload, isolated_cache: Path):
    server.files["/any/where/custom.pdparams"] = body = make_payload(seed=3)
    result = pull(server.url("/any/where/custom.pdparams"))
    assert result.path == isolated_cache / "models" / "custom.pdparams" and result.path.read_bytes() == body
    assert result.name == "custom.pdparams" and result.status == "downloaded"


def test_rerun_resumes_the_part_without_refetching(mirrored, isolated_cache: Path):
    server, body = mirrored
    cut = 70_000
    server.faults["/models/" + FILE] = [("drop", cut)]
    with pytest.raises(DownloadError):
        pull("s-416", mirror=server.base, attempts=1)
    part = isolated_cache / "models" / (FILE + ".part")
    assert part.stat().st_size == cut and not (isolated_cache / "models" / FILE).exists()
    result = pull("s-416", mirror=server.base)
    assert result.status == "resumed" and result.path.read_bytes() == body
    assert server.requests[-1].range == f"bytes={cut}-" and server.requests[-1].sent == len(body) - cut
    assert sum(r.sent for r in server.requests) == len(body)


def test_truncated_download_leaves_nothing_final(mirrored, isolated_cache: Path):
    server, _ = mirrored
    server.extra_length = 500
    with pytest.raises(DownloadError, match="gave up"):
        pull("s-416", mirror=server.base)
    assert not (isolated_cache / "models" / FILE).exists()
    assert not (isolated_cache / "manifest.json").exists()


def test_checksum_mismatch_quarantines_and_names_both_digests(mirrored, isolated_cache: Path):
    server, body = mirrored
    with pytest.raises(ChecksumError) as info:
        pull("s-416", mirror=server.base, expected_sha256="0" * 64)
    assert f"does not match the given digest: expected {'0' * 64}, received {sha(body)}" in info.value.message
    assert "check the digest" in info.value.hint
    assert not (isolated_cache / "models" / FILE).exists()
    assert not (isolated_cache / "models" / (FILE + ".part")).exists()
    assert [p.name.startswith(FILE + ".") for p in (isolated_cache / "quarantine").iterdir()] == [True]


def test_changed_upstream_file_needs_trust_new_even_with_force_or_after_cache_rm(mirrored, make_payload):
    server, body = mirrored
    first = pull("s-416", mirror=server.base)
    server.files["/models/" + FILE] = new = make_payload(seed=7)
    expected = f"does not match the pinned digest: expected {sha(body)}, received {sha(new)}"
    with pytest.raises(ChecksumError, match=expected) as info:
        pull("s-416", mirror=server.base, force=True)
    assert "picodet pull s-416 --trust-new" in info.value.hint
    assert first.path.read_bytes() == body, "a refused download leaves the cached file alone"
    remove("s-416")
    with pytest.raises(ChecksumError, match=expected):
        pull("s-416", mirror=server.base)
    trusted = pull("s-416", mirror=server.base, trust_new=True)
    assert trusted.status == "downloaded" and trusted.sha256 == sha(new)
    cache = Cache.open()
    assert cache.pin(FILE) == sha(new) and cache.record(FILE)["sha256"] == sha(new)
    assert [(h["sha256"], h["how"]) for h in cache.pin_history(FILE)] == [
        (sha(body), "first download"),
        (sha(new), "trust-new"),
    ]
    assert verify("s-416")[0].ok


def test_cache_rm_forget_drops_the_pin(mirrored, make_payload):
    server, _ = mirrored
    pull("s-416", mirror=server.base)
    assert any(r.endswith("#pins/" + FILE) for r in remove("s-416", forget=True))
    server.files["/models/" + FILE] = new = make_payload(seed=8)
    assert pull("s-416", mirror=server.base).sha256 == sha(new)


def test_corrupted_cached_file_is_quarantined_on_pull(mirrored, isolated_cache: Path):
    server, _ = mirrored
    path = pull("s-416", mirror=server.base).path
    path.write_bytes(b"x" * path.stat().st_size)
    with pytest.raises(ChecksumError) as info:
        pull("s-416", mirror=server.base)
    assert info.value.hint == "picodet pull s-416 --force" and not path.exists()
    assert pull("s-416", mirror=server.base, force=True).status == "downloaded"


def test_same_size_altered_cached_file_is_rehashed_by_resolve_checkpoint(mirrored, isolated_cache: Path):
    server, body = mirrored
    path = pull("s-416", mirror=server.base).path
    stat = path.stat()
    altered = bytearray(body)
    altered[-20] ^= 0xFF
    path.write_bytes(bytes(altered))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only ctime tells
    while path.stat().st_ctime_ns == stat.st_ctime_ns:  # a coarse ctime clock may not have ticked yet
        time.sleep(0.005)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ino,
    )
    with pytest.raises(ChecksumError, match="does not match the pinned digest") as info:
        resolve_checkpoint("s-416")
    assert info.value.hint == "picodet pull s-416 --force" and not path.exists()
    assert pull("s-416", mirror=server.base, force=True).path.read_bytes() == body


def test_unchanged_cached_file_is_trusted_without_hashing(mirrored):
    server, _ = mirrored
    path = pull("s-416", mirror=server.base).path
    cache = Cache.open()
    assert cache.verify_file(FILE, if_changed=True).hashed is False
    path.touch()
    result = cache.verify_file(FILE, if_changed=True)
    assert result.ok and result.hashed is True
    assert cache.verify_file(FILE, if_changed=True).hashed is False


def test_pull_reports_progress_and_retries_through_events(mirrored):
    server, body = mirrored
    server.faults["/models/" + FILE] = [("drop", 30_000)]
    events = []
    pull("s-416", mirror=server.base, on_event=events.append)
    progress = [e for e in events if isinstance(e, Progress)]
    assert {e.file for e in progress} == {FILE} and progress[-1].done == progress[-1].total == len(body)
    assert [type(e) for e in events if not isinstance(e, Progress)] == [Retrying]


def test_hostile_mirror_pickle_is_quarantined_then_honest_mirror_downloads_fresh(
    server, make_payload, s416_path, isolated_cache: Path
):
    bomb = b"\x80\x04cnumpy\nndarray\n(J\xa0\x86\x01\x00J\xa0\x86\x01\x00K\ntR."  # ndarray((100000, 100000, 10))
    server.files["/hostile" + s416_path] = bomb
    with pytest.raises(DownloadError, match="is not a loadable checkpoint") as info:
        pull("s-416", mirror=server.base + "/hostile")
    assert "numpy.ndarray" in info.value.message and "\n" not in str(info.value)
    models = isolated_cache / "models"
    assert sorted(p.name for p in models.iterdir()) == [], "no part left to resume onto"
    server.files["/honest" + s416_path] = body = make_payload()
    result = pull("s-416", mirror=server.base + "/honest")
    assert result.status == "downloaded" and result.path.read_bytes() == body
    assert server.requests[-1].range is None


def test_part_from_another_mirror_is_not_resumed(server, make_payload, s416_path, isolated_cache: Path):
    server.files["/a" + s416_path] = make_payload(seed=1)
    server.files["/b" + s416_path] = body = make_payload(seed=2)
    server.faults["/a" + s416_path] = [("drop", 30_000)]
    with pytest.raises(DownloadError):
        pull("s-416", mirror=server.base + "/a", attempts=1)
    part = isolated_cache / "models" / (FILE + ".part")
    assert part.stat().st_size == 30_000 and validator_path(part).exists()
    result = pull("s-416", mirror=server.base + "/b")
    assert result.status == "downloaded" and result.path.read_bytes() == body
    assert server.requests[-1].range is None


def test_download_that_is_not_a_state_dict_is_refused(server, isolated_cache: Path):
    server.files["/bad.pdparams"] = b"<html>captive portal</html>" * 100
    with pytest.raises(DownloadError, match="not a loadable checkpoint"):
        pull(server.url("/bad.pdparams"))
    assert not (isolated_cache / "models" / "bad.pdparams").exists()
    assert len(list((isolated_cache / "quarantine").iterdir())) == 1


def test_offline_uncached_raises_without_any_request(mirrored, monkeypatch: pytest.MonkeyPatch):
    server, _ = mirrored
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    with pytest.raises(NotInCache) as info:
        pull("s-416", mirror=server.base)
    assert "PICODET_OFFLINE" in info.value.message and "picodet pull s-416" in info.value.hint
    with pytest.raises(NotInCache):
        resolve_checkpoint("s-416")
    assert server.requests == []


def test_offline_cached_works_without_any_request(mirrored, monkeypatch: pytest.MonkeyPatch):
    server, _ = mirrored
    path = pull("s-416", mirror=server.base).path
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    before = len(server.requests)
    assert pull("s-416", mirror=server.base).status == "cached"
    assert resolve_checkpoint("picodet-s-416") == path
    assert len(server.requests) == before


def test_resolve_checkpoint_pulls_when_absent(mirrored, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path):
    server, body = mirrored
    monkeypatch.setenv("PICODET_MIRROR", server.base)
    path = resolve_checkpoint("s-416")
    assert path == isolated_cache / "models" / FILE and path.read_bytes() == body
    assert resolve_checkpoint("s-416") == path and len(server.requests) == 1


def test_local_file_is_validated_and_not_copied(tmp_path: Path, make_payload, isolated_cache: Path):
    local = tmp_path / "mine.pdparams"
    local.write_bytes(make_payload())
    result = pull(str(local))
    assert (result.status, result.path, result.name) == ("local", local.resolve(), "mine")
    assert resolve_checkpoint(str(local)) == local
    assert not (isolated_cache / "models").exists()
    (tmp_path / "junk.pdparams").write_text("not a checkpoint")
    with pytest.raises(PicodetError, match=r"not a Paddle \.pdparams"):
        pull(str(tmp_path / "junk.pdparams"))


def test_unknown_name_suggests_and_missing_path_is_named(tmp_path: Path):
    with pytest.raises(PicodetError, match="unknown model 's-41'") as info:
        pull("s-41")
    assert "did you mean" in info.value.hint
    with pytest.raises(PicodetError, match="no such file"):
        resolve_checkpoint(str(tmp_path / "nope.pdparams"))


@pytest.mark.parametrize(
    ("mirror", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/models/picodet_s_416_coco.pdparams"),
        ("https://mirror.example/", "https://mirror.example/models/picodet_s_416_coco.pdparams"),
        ("http://m.example/cache/paddle/", "http://m.example/cache/paddle/models/picodet_s_416_coco.pdparams"),
        (None, "https://paddledet.bj.bcebos.com/models/picodet_s_416_coco.pdparams"),
    ],
)
def test_apply_mirror(mirror: str | None, expected: str):
    assert apply_mirror("https://paddledet.bj.bcebos.com/models/picodet_s_416_coco.pdparams", mirror) == expected


def test_invalid_mirror_and_url_without_file_name():
    with pytest.raises(PicodetError, match="invalid mirror"):
        apply_mirror("https://a/b.pdparams", "ftp://host")
    with pytest.raises(PicodetError, match="file name"):
        url_file_name("https://host/dir/")
    assert url_file_name("https://host/a%20b.pdparams?x=1") == "a b.pdparams"
