"""The tests' toolchains folder: the real `legacy` toolchain is provisioned once and reused by later runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.toolchain import envs


@pytest.fixture(scope="session")
def toolchains_root() -> Path:
    """$PICODET_TOOLCHAINS when the caller set one, else one per-user temp folder that later runs reuse.

    (Not pytest's tmp_path: pytest deletes old session folders, also while a long session still runs.)
    """
    given = os.environ.get(envs.ROOT_ENV)
    return Path(given) if given else Path(tempfile.gettempdir()) / f"picodet-test-toolchains-{os.getuid()}"


@pytest.fixture(scope="session")
def legacy_python(toolchains_root: Path) -> Path:
    """The provisioned legacy toolchain's interpreter (needs Python 3.10 and PyPI the first time)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(toolchains_root))
        mp.delenv("PICODET_OFFLINE", raising=False)
        try:
            envs.find_python("3.10")
        except PicodetError as exc:
            pytest.skip(str(exc))
        envs.install("legacy")
        return envs.venv_python(envs.toolchain_dir(envs.get_spec("legacy")))


@pytest.fixture
def legacy_env(legacy_python: Path, toolchains_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PICODET_TOOLCHAINS pointing at the provisioned session folder."""
    monkeypatch.setenv(envs.ROOT_ENV, str(toolchains_root))
    return legacy_python
