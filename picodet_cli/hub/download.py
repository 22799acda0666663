"""HTTP downloads into a `.part` file: the only place picodet touches the network.

Every request goes through `open_stream`, which refuses when PICODET_OFFLINE=1. `download` resumes an existing
part only when it came from the same URL and the server still serves the same version: the first answer's ETag /
Last-Modified and URL are kept in a hidden `.<part>.json` beside the part, a resume sends `Range` with `If-Range`,
and a `200` (the file changed, or the server ignores ranges) or a `206` with another validator starts over.
Transient failures (connection errors, timeouts, dropped connections, 408/429/5xx, a stalled transfer) are
retried with exponential backoff, resuming from the part each time; the whole download has a deadline, redirects
are limited, and a full disk removes the part. Every failure is one `DownloadError` line.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..errors import DownloadError, NotInCache, PicodetError
from ..io import write_json_atomic
from ..settings import get_settings

DEFAULT_ATTEMPTS = 4
DEFAULT_RETRY_DELAY = 0.5
DEFAULT_TIMEOUT = 30.0
DEFAULT_STALL_BYTES = 16 * 1024  # an attempt that gets less than this ...
DEFAULT_STALL_SECONDS = 30.0  # ... in this many seconds has stalled
DEFAULT_DEADLINE = 3600.0  # seconds for the whole download, every attempt and backoff included
DEFAULT_MAX_REDIRECTS = 5
NETWORK_HINT = "check your network, try --mirror URL, or set PICODET_OFFLINE=1 to use cached models"
RESUME_HINT = "run the same command again: the partial download is kept and resumed"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

ProgressFn = Callable[[int, "int | None"], None]
NoteFn = Callable[[str], None]


@dataclass(frozen=True)
class StallRule:
    """An attempt that receives less than `min_bytes` in any `seconds`-long stretch has stalled."""

    min_bytes: int = DEFAULT_STALL_BYTES
    seconds: float = DEFAULT_STALL_SECONDS

    def describe(self) -> str:
        amount = f"{self.min_bytes / 1024:g} KB" if self.min_bytes >= 1024 else f"{self.min_bytes} bytes"
        return f"less than {amount} in {self.seconds:g} s"


@dataclass(frozen=True)
class Downloaded:
    """A finished transfer: the part file's size and how many bytes of an earlier part were kept."""

    size: int
    reused: int


class _Retry(Exception):
    """A transient failure worth another attempt; `error` is what the user sees if attempts run out."""

    def __init__(self, error: DownloadError) -> None:
        super().__init__(error.message)
        self.error = error


def env_retry_delay() -> float:
    """Base backoff delay in seconds: PICODET_RETRY_DELAY, else 0.5 (then 1, 2, ... between attempts)."""
    raw = os.environ.get("PICODET_RETRY_DELAY", "").strip()
    if not raw:
        return DEFAULT_RETRY_DELAY
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise PicodetError(f"PICODET_RETRY_DELAY must be a number of seconds >= 0, got '{raw}'", "e.g. 0.5")
    return value


def open_stream(client: Any, url: str, headers: dict[str, str]) -> Any:
    """Start a streamed GET; the single gate every network request passes, closed when offline."""
    if get_settings().offline:
        raise NotInCache(
            f"refusing to download {url}: PICODET_OFFLINE=1 forbids network access",
            "unset PICODET_OFFLINE to download, or use a model that is already cached (picodet cache ls)",
        )
    return client.stream("GET", url, headers=headers)


def validator_path(part: Path) -> Path:
    """The hidden file beside a part that says which URL and version (ETag / Last-Modified) it holds."""
    return part.with_name(f".{part.name}.json")


def discard_part(part: Path) -> None:
    """Delete a partial download and its validator."""
    part.unlink(missing_ok=True)
    validator_path(part).unlink(missing_ok=True)


def no_room_error(exc: OSError, path: Path, outcome: str = "the partial download was removed") -> DownloadError | None:
    """The one-line error for a write that failed for lack of room (disk full, quota, file size limit), else None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = path.parent
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        return DownloadError(
            f"disk full while writing to {folder} ({free / 2**20:.1f} MB free); {outcome}",
            "free some space, or point PICODET_HOME / --cache-dir at a bigger disk",
        )
    if exc.errno == errno.EFBIG:
        return DownloadError(
            f"file size limit reached while writing {path}; {outcome}",
            "raise the limit (ulimit -f) or point PICODET_HOME / --cache-dir at another disk",
        )
    return None


def _strong_etag(etag: str | None) -> str | None:
    return etag if etag and not etag.startswith("W/") else None


class _Transfer:
    """One URL into one part file, attempt by attempt."""

    def __init__(
        self, client: Any, url: str, part: Path, stall: StallRule, deadline: float, on_progress: ProgressFn | None
    ) -> None:
        self.client = client
        self.url = url
        self.part = part
        self.stall = stall
        self.deadline = deadline  # time.monotonic() value
        self.on_progress = on_progress
        self.reused: int | None = None  # bytes of the earlier part that the first answer let us keep
        self.total: int | None = None  # file size announced by the first answer that gave one

    def _saved(self) -> dict[str, Any] | None:
        try:
            saved = json.loads(validator_path(self.part).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return saved if isinstance(saved, dict) and saved.get("url") == self.url else None

    def attempt(self) -> int:
        offset = self.part.stat().st_size if self.part.exists() else 0
        saved = self._saved() if offset else None
        if offset and saved is None:  # from another URL, or nobody knows which version: never resume onto it
            discard_part(self.part)
            offset = 0
        headers = {}
        if offset and saved is not None:
            headers["Range"] = f"bytes={offset}-"
            if_range = _strong_etag(saved.get("etag")) or saved.get("last_modified")
            if if_range:
                headers["If-Range"] = if_range
        with open_stream(self.client, self.url, headers) as response:
            start, total = self._check(response, offset, saved)
            if total is not None and self.total not in (None, total):
                discard_part(self.part)
                raise _Retry(DownloadError(f"{self.url} changed size during the download ({self.total} -> {total})"))
            self.total = self.total or total
            if self.reused is None:
                self.reused = start
            if response.status_code == 416:
                return offset
            if start == 0:
                self._save_validator(response)
            size = self._write(response, start, total)
        if total is not None and size != total:
            raise _Retry(DownloadError(f"download of {self.url} stopped at {size} of {total} bytes", RESUME_HINT))
        return size

    def _save_validator(self, response: Any) -> None:
        record = {
            "url": self.url,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
        }
        try:
            write_json_atomic(validator_path(self.part), record)
        except OSError as exc:
            discard_part(self.part)
            raise no_room_error(exc, self.part) or DownloadError(
                f"cannot write {self.part}: {exc.strerror or exc}", "check the cache folder"
            ) from None

    def _same_version(self, response: Any, saved: dict[str, Any] | None) -> bool:
        """Whether a 206 answer is a range of the version the part holds (when either side names one)."""
        if saved is None:
            return True
        etag, old_etag = response.headers.get("etag"), saved.get("etag")
        if etag and old_etag:
            return etag == old_etag
        modified, old_modified = response.headers.get("last-modified"), saved.get("last_modified")
        return not (modified and old_modified) or modified == old_modified

    def _check(self, response: Any, offset: int, saved: dict[str, Any] | None) -> tuple[int, int | None]:
        """Validate the status line and headers; return (offset the body starts at, total size or None)."""
        code = response.status_code
        if code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if not self._same_version(response, saved):
                discard_part(self.part)
                raise _Retry(DownloadError(f"{self.url} changed on the server while it was being downloaded"))
            if match and int(match[1]) == offset:
                return offset, None if match[3] == "*" else int(match[3])
            discard_part(self.part)
            raise _Retry(DownloadError(f"{self.url}: server sent a range that does not continue the download"))
        if code == 200:
            length = response.headers.get("content-length")
            encoded = response.headers.get("content-encoding", "identity") != "identity"
            return 0, int(length) if length and length.isdigit() and not encoded else None
        if code == 416:
            match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("content-range", "").strip())
            if match and int(match[1]) == offset:  # the part is already complete
                return offset, offset
            discard_part(self.part)
            raise _Retry(DownloadError(f"{self.url}: server refused to resume (HTTP 416)", RESUME_HINT))
        if code in (404, 410):
            raise DownloadError(f"not found (HTTP {code}): {self.url}", "check the name or URL, or the --mirror")
        if code in (408, 429) or code >= 500:
            raise _Retry(DownloadError(f"server error (HTTP {code}) for {self.url}", "try again later or use --mirror"))
        raise DownloadError(f"unexpected HTTP {code} for {self.url}", "check the URL, or the --mirror")

    def _write(self, response: Any, start: int, total: int | None) -> int:
        done = start
        window_start, window_bytes = time.monotonic(), done
        try:
            with open(self.part, "ab" if start else "wb") as handle:
                if self.on_progress:
                    self.on_progress(done, total)
                for chunk in response.iter_bytes():  # no chunk_size: a re-chunker would drop its buffer on error
                    handle.write(chunk)
                    done += len(chunk)
                    if self.on_progress:
                        self.on_progress(done, total)
                    now = time.monotonic()
                    if now > self.deadline:
                        handle.flush()
                        raise _Deadline(done)
                    if now - window_start >= self.stall.seconds:
                        if done - window_bytes < self.stall.min_bytes:
                            handle.flush()
                            message = f"download of {self.url} stalled: {self.stall.describe()}"
                            raise _Retry(DownloadError(message, "try again later or use --mirror"))
                        window_start, window_bytes = now, done
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if error := no_room_error(exc, self.part):
                discard_part(self.part)
                raise error from None
            raise DownloadError(f"cannot write {self.part}: {exc.strerror or exc}", "check the cache folder") from None
        return done


class _Deadline(Exception):
    """The whole download ran past its deadline."""


def download(
    url: str,
    part: Path,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    retry_delay: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stall: StallRule | None = None,
    deadline: float = DEFAULT_DEADLINE,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    on_progress: ProgressFn | None = None,
    on_retry: NoteFn | None = None,
) -> Downloaded:
    """Fetch `url` into `part` (resuming it when the server still serves that version); one-line `DownloadError`s.

    `stall` ends an attempt that receives too little (retried up to `attempts` times), `deadline` bounds the whole
    download in seconds, `timeout` each connect/read. `on_progress(done, total)` sees the bytes, `on_retry(why)`
    each retry.
    """
    import httpx

    rule = stall or StallRule()
    delay = env_retry_delay() if retry_delay is None else retry_delay
    part.parent.mkdir(parents=True, exist_ok=True)
    headers = {"User-Agent": f"picodet/{__version__}", "Accept-Encoding": "identity"}
    error = DownloadError(f"could not download {url}")
    timeouts = httpx.Timeout(timeout, read=min(timeout, rule.seconds))
    ends_at = time.monotonic() + deadline
    with httpx.Client(follow_redirects=True, max_redirects=max_redirects, timeout=timeouts, headers=headers) as client:
        transfer = _Transfer(client, url, part, rule, ends_at, on_progress)
        for attempt in range(1, attempts + 1):
            try:
                size = transfer.attempt()
                validator_path(part).unlink(missing_ok=True)
                return Downloaded(size=size, reused=transfer.reused or 0)
            except _Retry as exc:
                error = exc.error
            except _Deadline:
                raise _past_deadline(url, deadline, part) from None
            except httpx.TooManyRedirects:
                raise DownloadError(
                    f"too many redirects (more than {max_redirects}) for {url}",
                    "the server redirects in a loop: check the URL or the --mirror",
                ) from None
            except httpx.TimeoutException as exc:
                error = DownloadError(f"timed out downloading {url} ({type(exc).__name__})", NETWORK_HINT)
            except httpx.ConnectError as exc:
                error = DownloadError(f"cannot connect to {urlsplit(url).netloc}: {exc}", NETWORK_HINT)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise DownloadError(f"invalid URL {url}: {exc}", "use an http:// or https:// URL") from None
            except httpx.TransportError as exc:
                error = DownloadError(f"connection lost while downloading {url}: {exc}", RESUME_HINT)
            if attempt == attempts:
                break
            wait = delay * 2 ** (attempt - 1)
            if time.monotonic() + wait > ends_at:
                raise _past_deadline(url, deadline, part)
            if on_retry:
                on_retry(f"{error.message}; retrying ({attempt + 1}/{attempts})")
            time.sleep(wait)
    raise DownloadError(f"{error.message} (gave up after {attempts} attempts)", error.hint)


def _past_deadline(url: str, deadline: float, part: Path) -> DownloadError:
    kept = part.stat().st_size if part.exists() else 0
    return DownloadError(f"download of {url} ran past its deadline of {deadline:g} s ({kept} bytes kept)", RESUME_HINT)
