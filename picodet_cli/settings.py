"""Environment-driven settings, read on every call (never cached at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRUTHY = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUTHY


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    offline: bool
    mirror: str | None
    debug: bool


def get_settings(cache_dir: str | os.PathLike[str] | None = None) -> Settings:
    """Resolve settings: explicit arguments beat PICODET_* variables beat platform defaults."""
    if cache_dir is None:
        cache_dir = os.environ.get("PICODET_HOME") or None
    if cache_dir is None:
        from platformdirs import user_cache_dir

        cache_dir = user_cache_dir("picodet", appauthor=False)
    return Settings(
        cache_dir=Path(cache_dir).expanduser(),
        offline=env_flag("PICODET_OFFLINE"),
        mirror=os.environ.get("PICODET_MIRROR") or None,
        debug=env_flag("PICODET_DEBUG"),
    )
