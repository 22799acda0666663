"""The picodet cache folder: layout, manifest, lookups, verification and quarantine.

The root is the platform user cache dir ("picodet"), or $PICODET_HOME, or `--cache-dir`:

    models/<file>.pdparams        complete, verified checkpoints only (moved in with os.replace)
    models/<file>.pdparams.part   a partial download beside its target, resumed with an HTTP Range request
    models/.<file>.part.json      the URL and ETag / Last-Modified the part came from (resumes check them)
    manifest.json                 "files": per file: url, size, sha256 (+ its source: zoo or recorded), zoo name,
                                  downloaded_at, verified_at, the stat (size, mtime_ns, ctime_ns, inode) it had
                                  when last hashed, and the last verification result;
                                  "pins": per file: the sha256 the first verified download pinned, and the
                                  history of accepted digests (kept by `cache rm`, dropped by `cache rm --forget`)
    quarantine/<file>.<UTC time>  files that failed verification, kept for inspection, never deleted silently
    locks/<file>.lock             one inter-process lock per target file (plus manifest.lock)

A killed download leaves at most the `.part` file (and its validator) behind; `models/` never holds half a file.
A cached file is re-hashed whenever its stat differs from the one recorded when it was last hashed.
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
MANIFEST_VERSION = 2


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
    hashed: bool = True  # False when the file's stat was unchanged since it was last hashed


def file_stat(path: Path) -> dict[str, int]:
    """What must stay the same for a verified file to be trusted without hashing it again."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


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
    def _load(self) -> dict[str, dict[str, Any]] | None:
        """{"files": name -> record, "pins": name -> pin}; None when a manifest exists but cannot be parsed."""
        if not self.manifest_path.exists():
            return {"files": {}, "pins": {}}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            files, pins = data["files"], data.get("pins", {})
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(files, dict) or not isinstance(pins, dict):
            return None
        for name, rec in files.items():  # version 1 manifests: a recorded digest is the pin
            if name not in pins and isinstance(rec, dict) and rec.get("sha256"):
                pins[name] = {"sha256": rec["sha256"], "history": []}
        return {"files": files, "pins": pins}

    def records(self) -> dict[str, dict[str, Any]]:
        """file name -> manifest record; an unreadable manifest reads as empty (and is quarantined on next write)."""
        return (self._load() or {}).get("files", {})

    def record(self, file_name: str) -> dict[str, Any] | None:
        return self.records().get(file_name)

    def pin(self, file_name: str) -> str | None:
        """The sha256 pinned for `file_name` (by its first verified download, or `--trust-new`), if any."""
        return (self._load() or {}).get("pins", {}).get(file_name, {}).get("sha256")

    def pin_history(self, file_name: str) -> list[dict[str, Any]]:
        return (self._load() or {}).get("pins", {}).get(file_name, {}).get("history", [])

    @contextlib.contextmanager
    def _edit_manifest(self) -> Iterator[dict[str, dict[str, Any]]]:
        with file_lock(self.locks_dir / "manifest.lock"):
            data = self._load()
            if data is None:
                self.quarantine(self.manifest_path)
                data = {"files": {}, "pins": {}}
            yield data
            try:
                write_json_atomic(self.manifest_path, {"version": MANIFEST_VERSION, **data})
            except OSError as exc:
                from .download import no_room_error

                raise no_room_error(exc, self.manifest_path, "the manifest is unchanged") or exc from None

    def put_record(self, file_name: str, record: dict[str, Any]) -> None:
        with self._edit_manifest() as data:
            data["files"][file_name] = record

    def update_record(self, file_name: str, **fields: Any) -> None:
        with self._edit_manifest() as data:
            data["files"][file_name] = {**data["files"].get(file_name, {}), **fields}

    def drop_record(self, file_name: str, forget: bool = False) -> list[str]:
        """Drop the file's record (and with `forget` its pin); return which of "files"/"pins" held it."""
        with self._edit_manifest() as data:
            sections = ("files", "pins") if forget else ("files",)
            return [section for section in sections if data[section].pop(file_name, None) is not None]

    def set_pin(self, file_name: str, sha256: str, url: str | None, how: str) -> None:
        """Pin `sha256` for `file_name`, keeping every digest accepted before in its history."""
        with self._edit_manifest() as data:
            pin = data["pins"].get(file_name, {"history": []})
            if pin.get("sha256") == sha256:
                return
            entry = {"sha256": sha256, "url": url, "at": utc_now(), "how": how}
            data["pins"][file_name] = {"sha256": sha256, "history": [*pin.get("history", []), entry]}

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
    def _expected(self, file_name: str, expected_sha256: str | None) -> tuple[str | None, str]:
        """The digest a file must have and where it comes from: the zoo's (or given), else the pin."""
        if expected_sha256:
            return expected_sha256, "zoo"
        pinned = self.pin(file_name)
        return (pinned, "recorded") if pinned else (None, "new")

    def verify_file(
        self, file_name: str, expected_sha256: str | None = None, *, if_changed: bool = False
    ) -> VerifyResult:
        """Re-hash a complete file against `expected_sha256` (the zoo's), else the pinned digest.

        With `if_changed`, a file whose stat (size, mtime_ns, ctime_ns, inode) is the one recorded when it last
        hashed correctly is trusted without hashing. With no digest to compare against, the digest is pinned now.
        A mismatch moves the file to quarantine/ and marks its record failed; the caller reports it.
        """
        path = self.file_path(file_name)
        expected, source = self._expected(file_name, expected_sha256)
        rec = self.record(file_name) or {}
        trusted = expected and rec.get("verify") == "ok" and rec.get("sha256") == expected
        if if_changed and trusted and rec.get("stat") == file_stat(path):
            return VerifyResult(file_name, True, expected, expected, source, None, hashed=False)
        actual = sha256_file(path)
        if expected is None:
            self.set_pin(file_name, actual, rec.get("url"), "first verification")
            expected = actual
        if actual == expected:
            self.update_record(
                file_name,
                sha256=actual,
                sha256_source="zoo" if source == "zoo" else "recorded",
                size=path.stat().st_size,
                stat=file_stat(path),
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

    def remove(self, file_name: str, forget: bool = False) -> list[str]:
        """Delete a file, its partial download and its manifest record (with `forget` its pin too)."""
        from .download import validator_path

        removed = []
        part = self.part_path(file_name)
        with file_lock(self.lock_path(file_name)):
            for path in (self.file_path(file_name), part, validator_path(part)):
                if path.exists():
                    path.unlink()
                    removed.append(str(path))
            dropped = self.drop_record(file_name, forget)
            removed += [f"{self.manifest_path}#{section}/{file_name}" for section in dropped]
        return removed


def digest_mismatch(subject: str, expected: str, actual: str, source: str, moved: str | None) -> str:
    """One line naming both digests and where the expected one comes from."""
    what = {"zoo": "zoo.toml's", "expected": "the given", "recorded": "the pinned"}.get(source, "the pinned")
    return f"{subject}: sha256 does not match {what} digest: expected {expected}, received {actual}; moved to {moved}"


def checksum_error(file_name: str, result: VerifyResult, pull_name: str) -> ChecksumError:
    """The user-facing error for a cached file that failed verification (changed on disk since it was verified)."""
    return ChecksumError(
        digest_mismatch(file_name, result.expected or "", result.actual, result.source, result.quarantined_to),
        f"picodet pull {pull_name} --force",
    )
