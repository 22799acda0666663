"""Environment-driven settings, read on every call (never cached at import time)."""

from __future__ import annotations

import os
import re
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


def use_mkl_avx2_on_amd() -> None:
    """On an AMD CPU with AVX2, have MKL run its AVX2 kernels (MKL_DEBUG_CPU_TYPE=5) unless the variable is set.

    Paddle's bundled MKL picks its kernels by CPU vendor and runs SSE code on non-Intel CPUs, which makes the
    convolution GEMMs (forward and backward) about 3x slower there. MKL reads the variable at its first call,
    so this must run before the process's first convolution; an empty MKL_DEBUG_CPU_TYPE opts out.
    """
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if "AuthenticAMD" in cpuinfo and re.search(r"^flags\s*:.*\bavx2\b", cpuinfo, re.MULTILINE):
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"
