"""Toolchain provisioning: interpreter search, offline refusal, atomic install, stamp and status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.toolchain import envs


@pytest.fixture
def empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "toolchains"
    monkeypatch.setenv(envs.ROOT_ENV, str(root))
    return root


def test_root_defaults_to_the_cache_dir(monkeypatch: pytest.MonkeyPatch, isolated_cache: Path):
    monkeypatch.delenv(envs.ROOT_ENV, raising=False)
    assert envs.toolchains_root() == isolated_cache / "toolchains"
    assert envs.toolchain_dir(envs.get_spec("legacy")) == isolated_cache / "toolchains" / "legacy-py310"


def test_unknown_toolchain_names_the_known_ones():
    with pytest.raises(PicodetError, match="unknown toolchain 'nope'") as info:
        envs.get_spec("nope")
    assert "legacy" in str(info.value.hint)


def test_bad_python_env_var_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv(envs.PYTHON_ENV, str(tmp_path / "no-such-python"))
    with pytest.raises(PicodetError, match="does not run") as info:
        envs.find_python("3.10")
    assert "install Python 3.10" in info.value.hint and envs.PYTHON_ENV in info.value.hint


def test_python_of_the_wrong_version_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envs.PYTHON_ENV, sys.executable)
    found = f"{sys.version_info[0]}.{sys.version_info[1]}"
    with pytest.raises(PicodetError, match=f"is Python {found}; the toolchain needs Python 3.10"):
        envs.find_python("3.10")


def test_missing_python_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, empty_root: Path):
    monkeypatch.delenv(envs.PYTHON_ENV, raising=False)
    monkeypatch.setattr(envs, "_pyenv_roots", lambda: [])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PicodetError, match=r"no Python 3\.10 found") as info:
        envs.install("legacy")
    assert "pyenv install 3.10" in info.value.hint
    assert not envs.toolchain_dir(envs.get_spec("legacy")).exists()


def test_offline_without_toolchain_never_builds(monkeypatch: pytest.MonkeyPatch, empty_root: Path):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    monkeypatch.setattr(envs, "_build", lambda *a: pytest.fail("offline install tried to build"))
    with pytest.raises(PicodetError, match="PICODET_OFFLINE=1 forbids downloading it") as info:
        envs.ensure("legacy")
    assert "picodet toolchain install legacy" in info.value.hint


def test_stamp_decides_the_status(empty_root: Path):
    spec = envs.get_spec("legacy")
    folder = envs.toolchain_dir(spec)
    assert envs.status(spec) == "missing"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").touch()
    assert envs.status(spec) == "missing"  # no stamp: an interrupted build is not an install
    (folder / envs.STAMP).write_text(json.dumps({"requirements": ["paddlepaddle==2.5.0"]}))
    assert envs.status(spec) == "outdated"
    (folder / envs.STAMP).write_text(json.dumps({"requirements": spec.requirements}))
    assert envs.status(spec) == "installed"
    assert envs.remove("legacy") is True
    assert envs.status(spec) == "missing" and not folder.exists()
    assert envs.remove("legacy") is False


@pytest.mark.slow
def test_failed_smoke_check_leaves_nothing_installed(monkeypatch: pytest.MonkeyPatch, empty_root: Path):
    broken = envs.ToolchainSpec("broken", "3.10", steps=(), smoke="raise SystemExit(3)", purpose="test")
    monkeypatch.setitem(envs.TOOLCHAINS, "broken", broken)
    try:
        envs.find_python("3.10")
    except PicodetError as exc:
        pytest.skip(str(exc))
    (empty_root / ".broken-py310.killed.tmp" / "bin").mkdir(parents=True)  # a build that was killed
    with pytest.raises(PicodetError, match=r"smoke check failed \(exit code 3\)") as info:
        envs.install("broken", report=lambda _: None)
    log = envs.log_path(broken)
    assert str(log) in info.value.hint and log.is_file()
    assert sorted(p.name for p in empty_root.iterdir()) == [".broken-py310.lock", "broken-py310.log"]


@pytest.mark.slow
def test_provisioned_legacy_toolchain(legacy_env: Path):
    spec = envs.get_spec("legacy")
    folder = envs.toolchain_dir(spec)
    assert envs.status(spec) == "installed"
    stamp = envs.read_stamp(spec)
    assert stamp["requirements"] == spec.requirements and stamp["python"] == "3.10"
    # entry-point scripts were re-pointed from the temporary build folder to the final one
    assert (folder / "bin" / "pip").read_text().splitlines()[0] == f"#!{folder / 'bin' / 'python'}"
    assert not [p for p in folder.parent.iterdir() if p.name.endswith((".tmp", ".trash"))]
    messages: list[str] = []
    assert envs.install("legacy", report=messages.append) == folder
    assert messages == []  # already installed: nothing to do
    assert envs.ensure("legacy") == legacy_env
