"""The arm-emulator toolchain: Debian index/.deb handling, offline and mirror errors, the provisioned userland."""

from __future__ import annotations

import io
import json
import lzma
import subprocess
import tarfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from picodet_cli.cli.toolchain import register
from picodet_cli.errors import ChecksumError, DownloadError, PicodetError
from picodet_cli.toolchain import arm_emulator, debian, envs

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Test root."""


register(app)

STANZAS = (
    "Package: libc6\nVersion: 2.36-9\nFilename: pool/main/g/glibc/libc6_2.36-9_arm64.deb\nSize: 3\n"
    "SHA256: {sha}\nDescription: x\n\nPackage: zlib1g\nVersion: 1:1.2.13\nFilename: pool/z.deb\nSize: 5\n"
    "SHA256: 00\n\nPackage: libc6\nVersion: 0.1\nFilename: old.deb\nSize: 1\nSHA256: 11\n"
)


@pytest.fixture
def empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "toolchains"
    monkeypatch.setenv(envs.ROOT_ENV, str(root))
    return root


def make_deb(path: Path, members: list[tarfile.TarInfo], data: bytes = b"hello") -> Path:
    """A minimal .deb: an ar archive whose data.tar.xz holds `members` (regular files get `data`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for member in members:
            member.size = len(data) if member.isfile() else 0
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    blob = buffer.getvalue()
    header = f"{'data.tar.xz':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(blob):<10}`\n".encode()
    path.write_bytes(debian.AR_MAGIC + header + blob + b"\n" * (len(blob) % 2))
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755
    return info


def test_index_parsing_keeps_the_first_stanza_of_wanted_packages():
    found = debian.parse_index(STANZAS.format(sha="ab" * 32), {"libc6", "missing"})
    assert list(found) == ["libc6"]
    assert found["libc6"] == debian.Deb("libc6", "2.36-9", "pool/main/g/glibc/libc6_2.36-9_arm64.deb", "ab" * 32, 3)


def test_mirror_comes_from_env_then_apt_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security/\n\nURIs: http://mirror.example/debian/\n"
    )
    monkeypatch.setattr(debian, "APT_SOURCES", sources)
    monkeypatch.delenv(debian.MIRROR_ENV, raising=False)
    assert debian.mirror() == "http://mirror.example/debian"
    monkeypatch.setenv(debian.MIRROR_ENV, "http://other/debian/")
    assert debian.mirror() == "http://other/debian"
    monkeypatch.delenv(debian.MIRROR_ENV)
    monkeypatch.setattr(debian, "APT_SOURCES", tmp_path / "none")
    assert debian.mirror() == debian.DEFAULT_MIRROR


def test_missing_package_and_corrupt_index_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fake_fetch(url: str, dest: Path) -> Path:
        dest.write_bytes(lzma.compress(STANZAS.format(sha="00").encode()) if "arm64" in url else b"garbage")
        return dest

    monkeypatch.setattr(debian, "_fetch", fake_fetch)
    assert debian.resolve("http://m", "arm64", ["libc6"], tmp_path)["libc6"].version == "2.36-9"
    with pytest.raises(PicodetError, match="bookworm arm64 has no package nope"):
        debian.resolve("http://m", "arm64", ["libc6", "nope"], tmp_path)
    with pytest.raises(PicodetError, match=r"the Debian index .*amd64/Packages.xz is corrupt"):
        debian.resolve("http://m", "amd64", ["libc6"], tmp_path)


def test_deb_with_wrong_sha256_is_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(debian, "_fetch", lambda url, dest: dest.write_bytes(b"tampered") and dest)
    deb = debian.Deb("libc6", "1", "pool/libc6.deb", "ab" * 32, 8)
    with pytest.raises(ChecksumError, match=r"libc6\.deb: sha256 .* does not match the Debian index") as info:
        debian.fetch_deb("http://m", deb, tmp_path)
    assert debian.MIRROR_ENV in info.value.hint and not (tmp_path / "libc6.deb").exists()


def test_extraction_stays_inside_the_target(tmp_path: Path):
    target = tmp_path / "root"
    members = [
        member("./usr/lib/libx.so.1"),
        member("./lib/ld.so", tarfile.SYMTYPE, "/usr/lib/libx.so.1"),  # absolute: rewritten relative
        member("./usr/bin/tool", tarfile.REGTYPE),
    ]
    names = debian.extract_deb(make_deb(tmp_path / "ok.deb", members), target, keep=lambda n: "tool" not in n)
    assert names == ["usr/lib/libx.so.1", "lib/ld.so"]
    assert (target / "lib" / "ld.so").readlink() == Path("../usr/lib/libx.so.1")
    assert (target / "lib" / "ld.so").read_bytes() == b"hello" and not (target / "usr" / "bin").exists()
    for evil in (member("../escape"), member("./usr/up", tarfile.SYMTYPE, "../../../etc/passwd")):
        with pytest.raises(PicodetError, match="refusing to extract"):
            debian.extract_deb(make_deb(tmp_path / "evil.deb", [evil]), target)
    assert not (tmp_path / "escape").exists() and not (target / "usr" / "up").exists()
    (tmp_path / "not.deb").write_bytes(b"PK\x03\x04")
    with pytest.raises(PicodetError, match="not a Debian package"):
        debian.extract_deb(tmp_path / "not.deb", target)


def test_offline_without_toolchain_never_downloads(empty_root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    monkeypatch.setattr(arm_emulator, "_build", lambda *a: pytest.fail("offline install tried to build"))
    with pytest.raises(PicodetError, match="'arm-emulator' toolchain is missing and PICODET_OFFLINE=1") as info:
        arm_emulator.ensure(report=lambda _: None)
    assert "picodet toolchain install arm-emulator" in info.value.hint


def test_unreachable_mirror_is_one_clear_error_and_leaves_nothing(empty_root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(debian.MIRROR_ENV, "http://127.0.0.1:9/debian")
    monkeypatch.setenv("PICODET_RETRY_DELAY", "0")
    result = CliRunner().invoke(app, ["toolchain", "install", "arm-emulator"])
    assert result.exit_code == 1 and isinstance(result.exception, DownloadError)
    assert "cannot connect to 127.0.0.1:9" in result.exception.message
    assert debian.MIRROR_ENV in result.exception.hint
    assert sorted(p.name for p in empty_root.iterdir()) == [".arm-emulator.lock", "arm-emulator.log"]
    assert arm_emulator.status() == "missing"


def test_status_ls_and_rm_of_a_fake_install(empty_root: Path):
    runner = CliRunner()
    assert "'arm-emulator' is not installed" in runner.invoke(app, ["toolchain", "rm", "arm-emulator"]).output
    folder = arm_emulator.folder()
    folder.mkdir(parents=True)
    (folder / "qemu-aarch64-static").write_bytes(b"x")
    assert arm_emulator.status() == "missing"  # no stamp: an interrupted build
    (folder / envs.STAMP).write_text(json.dumps({"requirements": ["qemu-user-static"]}))
    assert arm_emulator.status() == "outdated"
    (folder / envs.STAMP).write_text(json.dumps({"requirements": arm_emulator.requirements()}))
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["toolchain", "ls", "--json"]).output)}
    assert rows["arm-emulator"]["status"] == "installed" and rows["arm-emulator"]["size_bytes"] > 0
    assert rows["arm-emulator"]["python"] == "3.11 arm64" and "MNN==3.6.1" in rows["arm-emulator"]["requirements"]
    assert "already installed" in runner.invoke(app, ["toolchain", "install", "arm-emulator"]).output
    assert "removed 'arm-emulator'" in runner.invoke(app, ["toolchain", "rm", "arm-emulator"]).output
    assert not folder.exists()
    unknown = runner.invoke(app, ["toolchain", "install", "nope"])
    assert unknown.exit_code == 1 and "legacy, arm-emulator" in unknown.exception.hint


def test_cpu_model_is_checked(monkeypatch: pytest.MonkeyPatch):
    assert arm_emulator.cpu_model() == "neoverse-n1"
    monkeypatch.setenv(arm_emulator.CPU_ENV, "cortex-a72")
    assert arm_emulator.cpu_model() == "cortex-a72" and arm_emulator.cpu_model("max") == "max"
    with pytest.raises(PicodetError, match="unknown emulated CPU 'pentium'"):
        arm_emulator.cpu_model("pentium")


@pytest.mark.slow
def test_provisioned_userland_is_aarch64_python(arm_emulator_toolchain: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envs.ROOT_ENV, str(arm_emulator_toolchain.parent))
    assert arm_emulator.status() == "installed"
    stamp = arm_emulator.read_stamp()
    assert set(stamp["packages"]) == {arm_emulator.QEMU_PACKAGE, *arm_emulator.USERLAND}
    assert (arm_emulator_toolchain / "root" / "proc" / "cpuinfo").read_text().startswith("processor\t: 0")
    code = "import platform, sys, numpy; print(platform.machine(), sys.version_info[:2], numpy.__version__)"
    argv = arm_emulator.python_command(arm_emulator_toolchain, ["-c", code], "cortex-a72", [])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["aarch64", "(3,", "11)", "2.4.6"]
    assert arm_emulator.install(report=lambda m: pytest.fail(m)) == arm_emulator_toolchain  # nothing to do
