"""Temp + rename for export folders: a format's files appear under their final names complete, or not at all.

Each run stages its work in `<out>/.picodet-tmp-<pid>-<random>/`: one folder per format (renamed to `<out>/<format>`
once written) and scratch folders for intermediate files (the Paddle program paddle2onnx reads, pnnx's side
files, the Lite work folder). A failed step removes its folder; the staging root is removed at the end of the run;
a root left by a killed run (its process gone) is removed by the next run into the same folder. A full disk
(or a file-size limit) ends the run with one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import PicodetError

PREFIX = ".picodet-tmp-"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(PicodetError):
    """The disk (or a file-size limit) stopped a write."""

    def __init__(self, where: Path, detail: str = "") -> None:
        super().__init__(
            f"no space left to write {where}{': ' + detail if detail else ''}",
            "free some disk space or export elsewhere with --out; nothing was left half-written",
        )


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out_dir: Path) -> list[Path]:
    """Remove staging folders of runs whose process is gone; returns what was removed."""
    removed = []
    for path in out_dir.glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class Staging:
    """The staging root of one export run into `out_dir` (see the module docstring)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            clean_stale(out_dir)
            self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=out_dir))
        except OSError as error:
            if is_disk_full(error):
                raise DiskFull(out_dir) from None
            raise PicodetError(f"cannot write into {out_dir}: {error.strerror}", "check the --out folder") from None

    def folder(self, name: str) -> Path:
        """A fresh staging folder for format `name` (published as `<out>/<name>`)."""
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A scratch folder inside the staging root, removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix="work-", dir=self.root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def discard(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def publish(self, name: str) -> Path:
        """Move the staged folder of `name` to `<out>/<name>` (an earlier one is replaced); returns it."""
        staged, final = self.root / name, self.out_dir / name
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix="old-", dir=self.root))
            os.replace(final, old / name)
        os.replace(staged, final)
        return final

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def check_written(path: Path, at_least: int) -> None:
    """Raise DiskFull when `path` holds fewer than `at_least` bytes: some writers (Paddle's C++ savers) ignore
    failed writes and leave a short file behind without an error."""
    size = path.stat().st_size if path.is_file() else 0
    if size < at_least:
        raise DiskFull(path, f"{size} of at least {at_least} bytes written")
