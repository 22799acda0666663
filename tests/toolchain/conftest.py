"""Toolchain fixtures: the interpreter of the provisioned `legacy` toolchain (see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from picodet_cli.toolchain import envs


@pytest.fixture(scope="session")
def legacy_python(legacy_toolchain: Path) -> Path:
    """The provisioned legacy toolchain's interpreter."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(legacy_toolchain))
        return envs.venv_python(envs.toolchain_dir(envs.get_spec("legacy")))


@pytest.fixture
def legacy_env(legacy_python: Path, legacy_toolchain: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PICODET_TOOLCHAINS pointing at the provisioned session folder."""
    monkeypatch.setenv(envs.ROOT_ENV, str(legacy_toolchain))
    return legacy_python
