"""The cache folder: layout, listing, verification with quarantine, removal, a damaged manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.errors import NotInCache
from picodet_cli.hub.cache import Cache
from picodet_cli.hub.pull import pull, remove, verify
from picodet_cli.zoo import load_zoo

FILE = "picodet_s_416_coco.pdparams"
runner = CliRunner()


@pytest.fixture
def pulled(server, make_payload, s416_path):
    server.files[s416_path] = make_payload()
    return pull("s-416", mirror=server.base)


def test_cache_root_follows_picodet_home_and_cache_dir(isolated_cache: Path, tmp_path: Path):
    assert Cache.open().root == isolated_cache
    assert Cache.open(tmp_path).root == tmp_path


def test_cached_file_checks_the_recorded_size(pulled):
    cache = Cache.open()
    entry = load_zoo().get("s-416")
    assert cache.cached_file(entry) == pulled.path
    with pulled.path.open("ab") as handle:
        handle.write(b"!")
    assert cache.cached_file(entry) is None


def test_items_list_complete_partial_and_quarantined_files(pulled, isolated_cache: Path):
    cache = Cache.open()
    cache.part_path("picodet_m_416_coco.pdparams").write_bytes(b"12345")
    items = {item.file: item for item in cache.items()}
    assert items[FILE].state == "ok" and items[FILE].name == "s-416" and items[FILE].size == pulled.size
    assert items["picodet_m_416_coco.pdparams.part"].state == "partial"
    pulled.path.write_bytes(b"x" * pulled.size)
    assert verify("s-416")[0].ok is False
    assert {item.file: item.state for item in cache.items()}[FILE] == "quarantined"


def test_verify_records_a_digest_for_untracked_files_then_catches_corruption(isolated_cache: Path, make_payload):
    cache = Cache.open()
    cache.models_dir.mkdir(parents=True)
    path = cache.file_path("copied.pdparams")
    path.write_bytes(make_payload())
    first = verify("copied.pdparams")
    assert [(r.ok, r.source) for r in first] == [(True, "new")]
    assert cache.record("copied.pdparams")["sha256"] == first[0].actual
    path.write_bytes(make_payload(seed=9))
    (bad,) = verify()
    assert not bad.ok and bad.source == "recorded" and not path.exists()
    assert Path(bad.quarantined_to).parent == isolated_cache / "quarantine"
    with pytest.raises(NotInCache):
        verify("copied.pdparams")


def test_remove_deletes_file_part_and_record(pulled):
    cache = Cache.open()
    cache.part_path(FILE).write_bytes(b"partial")
    removed = remove("picodet_s_416_coco")
    assert str(pulled.path) in removed and str(cache.part_path(FILE)) in removed
    assert cache.items() == [] and cache.record(FILE) is None


def test_damaged_manifest_reads_empty_and_is_quarantined_on_write(pulled, isolated_cache: Path):
    manifest = isolated_cache / "manifest.json"
    manifest.write_text("{not json")
    cache = Cache.open()
    assert cache.records() == {} and cache.cached_path(FILE) == pulled.path
    assert verify("s-416")[0].ok
    assert json.loads(manifest.read_text())["files"][FILE]["sha256"] == pulled.sha256
    assert any(p.name.startswith("manifest.json.") for p in (isolated_cache / "quarantine").iterdir())


def test_cli_pull_then_ls_verify_rm(server, make_payload, s416_path, isolated_cache: Path):
    server.files[s416_path] = make_payload()
    result = runner.invoke(app, ["pull", "s-416", "--mirror", server.base, "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["status"] == "downloaded" and row["path"] == str(isolated_cache / "models" / FILE)

    listing = json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout)
    assert [(r["file"], r["name"], r["state"]) for r in listing] == [(FILE, "s-416", "ok")]

    (isolated_cache / "models" / FILE).write_bytes(b"\0" * row["size"])
    result = runner.invoke(app, ["cache", "verify"])
    assert result.exit_code == 1
    assert "quarantine" in result.output and "picodet pull s-416 --force" in result.output
    assert not (isolated_cache / "models" / FILE).exists()

    result = runner.invoke(app, ["pull", "s-416", "--mirror", server.base, "--force"])
    assert result.exit_code == 0 and "downloaded" in result.output
    assert runner.invoke(app, ["cache", "verify", "s-416"]).exit_code == 0
    assert runner.invoke(app, ["cache", "rm", "s-416"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["cache", "ls", "--json"]).stdout) == []
