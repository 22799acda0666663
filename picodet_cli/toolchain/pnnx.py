"""The standalone `pnnx` converter binary, installed once with `pip install --no-deps --target` (no torch)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from ..errors import MissingDependency, PicodetError


def toolchains_root() -> Path:
    """`$PICODET_TOOLCHAINS`, else `<cache>/toolchains`."""
    from ..settings import get_settings

    root = os.environ.get("PICODET_TOOLCHAINS")
    return Path(root).expanduser() if root else get_settings().cache_dir / "toolchains"


def pnnx_binary() -> Path:
    """Path to the pnnx executable; the pnnx wheel is installed without dependencies on first use."""
    from ..io import file_lock

    target = toolchains_root() / "pnnx"
    binary = target / "pnnx" / "pnnx"
    with file_lock(toolchains_root() / ".locks" / "pnnx.lock"):
        if not binary.is_file():
            if os.environ.get("PICODET_OFFLINE"):
                raise MissingDependency("pnnx", "ncnn export", f"--no-deps --target {target} pnnx")
            cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), "pnnx"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not binary.is_file():
                detail = (proc.stderr.strip().splitlines() or ["no pnnx binary in the wheel"])[-1]
                raise PicodetError(f"could not install pnnx: {detail}", f"pip install --no-deps --target {target} pnnx")
        if not os.access(binary, os.X_OK):
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary
