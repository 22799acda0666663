"""Shared fixtures: the reference folder beside the checkout, and an isolated picodet cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` (reference material); CI places it beside the checkout."""
    if not SHARED.is_dir():
        pytest.fail(f"reference folder {SHARED} is missing (it must sit beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def golden_dirs(shared_dir: Path) -> list[Path]:
    """Every golden model folder present, so new goldens are picked up without code changes."""
    dirs = sorted(p for p in (shared_dir / "reference" / "golden").iterdir() if (p / "io.npz").is_file())
    assert dirs, "no golden folders found"
    return dirs


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PICODET_HOME and no mirror/offline settings from the caller's shell."""
    home = tmp_path_factory.mktemp("picodet_home")
    monkeypatch.setenv("PICODET_HOME", str(home))
    for var in ("PICODET_OFFLINE", "PICODET_MIRROR", "PICODET_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home
