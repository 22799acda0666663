"""The picodet cache folder: layout, manifest, lookups, verification and quarantine.

The root is the platform user cache dir ("picodet"), or $PICODET_HOME, or `--cache-dir`:

    models/<file>.pdparams        complete, verified checkpoints only (moved in with os.replace)
    models/<file>.pdparams.part   a partial download beside its target, resumed with an HTTP Range request
    manifest.json                 per file: url, size, sha256 (+ its source: zoo or recorded), zoo name,
                                  downloaded_at, verified_at and the last verification result
    quarantine/<file>.<UTC time>  files that failed verification, kept for inspection, never deleted silently
    locks/<file>.lock             one inter-process lock per target file (plus manifest.lock)

A killed download leaves at most the `.part` file behind; `models/` never holds half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ChecksumError
from ..io import file_lock, sha256_file, write_json_atomic
from ..settings import get_settings

if TYPE_CHECKING:
    from ..zoo import ZooEntry

PART_SUFFIX = ".part"
MANIFEST_VERSION = 1


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class CacheItem:
    """One row of `picodet cache ls`: a complete file, a partial download, or a record whose file is gone."""

    file: str
    path: str
    size: int
    state: str  # "ok", "unverified", "size mismatch", "partial", "quarantined" or "missing"
    name: str | None
    sha256: str | None
    url: str | None
    verified_at: str | None


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of re-hashing one cached file."""

    file: str
    ok: bool
    expected: str | None
    actual: str
    source: str  # where `expected` came from: "zoo", "recorded", or "new" when it was recorded just now
    quarantined_to: str | None


class Cache:
    """A cache root and the operations on it; every write is atomic and every read-modify-write is locked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.models_dir = root / "models"
        self.manifest_path = root / "manifest.json"
        self.quarantine_dir = root / "quarantine"
        self.locks_dir = root / "locks"

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None = None) -> Cache:
        return cls(get_settings(cache_dir).cache_dir)

    # paths
    def file_path(self, file_name: str) -> Path:
        return self.models_dir / file_name

    def part_path(self, file_name: str) -> Path:
        return self.models_dir / (file_name + PART_SUFFIX)

    def lock_path(self, file_name: str) -> Path:
        return self.locks_dir / f"{file_name}.lock"

    # manifest
    def _load_records(self) -> dict[str, dict[str, Any]] | None:
        """file name -> record; None when a manifest exists but cannot be parsed."""
        if not self.manifest_path.exists():
            return {}
        try:
            files = json.loads(self.manifest_path.read_text(encoding="utf-8"))["files"]
        except (ValueError, KeyError, TypeError):
            return None
        return files if isinstance(files, dict) else None

    def records(self) -> dict[str, dict[str, Any]]:
        """file name -> manifest record; an unreadable manifest reads as empty (and is quarantined on next write)."""
        return self._load_records() or {}

    def record(self, file_name: str) -> dict[str, Any] | None:
        return self.records().get(file_name)

    @contextlib.contextmanager
    def _edit_manifest(self) -> Iterator[dict[str, dict[str, Any]]]:
        with file_lock(self.locks_dir / "manifest.lock"):
            files = self._load_records()
            if files is None:
                self.quarantine(self.manifest_path)
                files = {}
            yield files
            write_json_atomic(self.manifest_path, {"version": MANIFEST_VERSION, "files": files})

    def put_record(self, file_name: str, record: dict[str, Any]) -> None:
        with self._edit_manifest() as files:
            files[file_name] = record

    def update_record(self, file_name: str, **fields: Any) -> None:
        with self._edit_manifest() as files:
            files[file_name] = {**files.get(file_name, {}), **fields}

    def drop_record(self, file_name: str) -> bool:
        with self._edit_manifest() as files:
            return files.pop(file_name, None) is not None

    # lookups
    def cached_path(self, file_name: str) -> Path | None:
        """The complete file if present and (when recorded) of the recorded size."""
        path = self.file_path(file_name)
        if not path.is_file():
            return None
        rec = self.record(file_name)
        if rec and rec.get("size") is not None and path.stat().st_size != rec["size"]:
            return None
        return path

    def cached_file(self, entry: ZooEntry) -> Path | None:
        return self.cached_path(entry.file_name)

    def items(self) -> list[CacheItem]:
        """Every file in models/ (partial downloads included) plus manifest records whose file is gone."""
        records = self.records()
        on_disk = set()
        if self.models_dir.is_dir():
            on_disk = {p.name for p in self.models_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
        gone = {name for name in records if name not in on_disk and name + PART_SUFFIX not in on_disk}
        return [self._item(name, records) for name in sorted(on_disk | gone)]

    def _item(self, name: str, records: dict[str, dict[str, Any]]) -> CacheItem:
        partial = name.endswith(PART_SUFFIX)
        rec = records.get(name.removesuffix(PART_SUFFIX), {})
        path = self.models_dir / name
        return CacheItem(
            file=name,
            path=str(path),
            size=path.stat().st_size if path.is_file() else 0,
            state="partial" if partial else self._state(name, rec),
            name=rec.get("name"),
            sha256=None if partial else rec.get("sha256"),
            url=rec.get("url"),
            verified_at=None if partial else rec.get("verified_at"),
        )

    def _state(self, file_name: str, rec: dict[str, Any]) -> str:
        path = self.file_path(file_name)
        if not path.is_file():
            return "quarantined" if rec.get("quarantined_to") else "missing"
        if rec.get("size") is not None and path.stat().st_size != rec["size"]:
            return "size mismatch"
        return "ok" if rec.get("sha256") else "unverified"

    # verification
    def verify_file(self, file_name: str, expected_sha256: str | None = None) -> VerifyResult:
        """Re-hash a complete file against `expected_sha256` (the zoo's), else the recorded digest.

        With no digest to compare against, the digest is recorded now. A mismatch moves the file to
        quarantine/ and marks its record failed; the caller reports it.
        """
        path = self.file_path(file_name)
        actual = sha256_file(path)
        rec = self.record(file_name) or {}
        if expected_sha256:
            expected, source = expected_sha256, "zoo"
        elif rec.get("sha256"):
            expected, source = rec["sha256"], "recorded"
        else:
            expected, source = actual, "new"
        if actual == expected:
            self.update_record(
                file_name,
                sha256=actual,
                sha256_source="zoo" if source == "zoo" else "recorded",
                size=path.stat().st_size,
                verified_at=utc_now(),
                verify="ok",
            )
            return VerifyResult(file_name, True, expected, actual, source, None)
        moved = str(self.quarantine(path))
        self.update_record(file_name, verified_at=utc_now(), verify="failed", quarantined_to=moved)
        return VerifyResult(file_name, False, expected, actual, source, moved)

    def quarantine(self, path: Path) -> Path:
        """Move `path` into quarantine/ under a timestamped name and return where it went."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = self.quarantine_dir / f"{path.name}.{stamp}"
        counter = 1
        while dest.exists():
            dest = self.quarantine_dir / f"{path.name}.{stamp}-{counter}"
            counter += 1
        os.replace(path, dest)
        return dest

    def remove(self, file_name: str) -> list[str]:
        """Delete a file, its partial download and its manifest record; return what was removed."""
        removed = []
        with file_lock(self.lock_path(file_name)):
            for path in (self.file_path(file_name), self.part_path(file_name)):
                if path.exists():
                    path.unlink()
                    removed.append(str(path))
            if self.drop_record(file_name):
                removed.append(f"{self.manifest_path}#{file_name}")
        return removed


def checksum_error(file_name: str, result: VerifyResult, pull_name: str) -> ChecksumError:
    """The user-facing error for a failed verification."""
    what = "zoo.toml's" if result.source == "zoo" else "the first download's"
    return ChecksumError(
        f"{file_name}: sha256 {result.actual[:16]}… does not match {what} {(result.expected or '')[:16]}…; "
        f"moved to {result.quarantined_to}",
        f"picodet pull {pull_name} --force",
    )
