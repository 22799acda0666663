"""HTTP downloads into a `.part` file: the only place picodet touches the network.

Every request goes through `open_stream`, which refuses when PICODET_OFFLINE=1. `download` resumes an
existing part with `Range: bytes=N-` (accepting only `206` with a matching `Content-Range`), starts over
when the server ignores the range (`200`), and retries transient failures (connection errors, timeouts,
dropped connections, 408/429/5xx) with exponential backoff, resuming from the part on every attempt.
"""

from __future__ import annotations

import errno
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
from ..settings import get_settings

DEFAULT_ATTEMPTS = 4
DEFAULT_RETRY_DELAY = 0.5
DEFAULT_TIMEOUT = 30.0
NETWORK_HINT = "check your network, try --mirror URL, or set PICODET_OFFLINE=1 to use cached models"
RESUME_HINT = "run the same command again: the partial download is kept and resumed"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

ProgressFn = Callable[[int, "int | None"], None]


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


def _disk_full(folder: Path) -> DownloadError:
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    return DownloadError(
        f"disk full while writing to {folder} ({free / 2**20:.1f} MB free)",
        "free some space, or point PICODET_HOME / --cache-dir at a bigger disk",
    )


class _Transfer:
    """One URL into one part file, attempt by attempt."""

    def __init__(self, client: Any, url: str, part: Path, on_progress: ProgressFn | None) -> None:
        self.client = client
        self.url = url
        self.part = part
        self.on_progress = on_progress
        self.reused: int | None = None  # bytes of the earlier part that the first answer let us keep
        self.total: int | None = None  # file size announced by the first answer that gave one

    def attempt(self) -> int:
        offset = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with open_stream(self.client, self.url, headers) as response:
            start, total = self._check(response, offset)
            if total is not None and self.total not in (None, total):
                self.part.unlink(missing_ok=True)
                raise _Retry(DownloadError(f"{self.url} changed size during the download ({self.total} -> {total})"))
            self.total = self.total or total
            if self.reused is None:
                self.reused = start
            if response.status_code == 416:
                return offset
            size = self._write(response, start, total)
        if total is not None and size != total:
            raise _Retry(DownloadError(f"download of {self.url} stopped at {size} of {total} bytes", RESUME_HINT))
        return size

    def _check(self, response: Any, offset: int) -> tuple[int, int | None]:
        """Validate the status line and headers; return (offset the body starts at, total size or None)."""
        code = response.status_code
        if code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if match and int(match[1]) == offset:
                return offset, None if match[3] == "*" else int(match[3])
            self.part.unlink(missing_ok=True)
            raise _Retry(DownloadError(f"{self.url}: server sent a range that does not continue the download"))
        if code == 200:
            length = response.headers.get("content-length")
            encoded = response.headers.get("content-encoding", "identity") != "identity"
            return 0, int(length) if length and length.isdigit() and not encoded else None
        if code == 416:
            match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("content-range", "").strip())
            if match and int(match[1]) == offset:  # the part is already complete
                return offset, offset
            self.part.unlink(missing_ok=True)
            raise _Retry(DownloadError(f"{self.url}: server refused to resume (HTTP 416)", RESUME_HINT))
        if code in (404, 410):
            raise DownloadError(f"not found (HTTP {code}): {self.url}", "check the name or URL, or the --mirror")
        if code in (408, 429) or code >= 500:
            raise _Retry(DownloadError(f"server error (HTTP {code}) for {self.url}", "try again later or use --mirror"))
        raise DownloadError(f"unexpected HTTP {code} for {self.url}", "check the URL, or the --mirror")

    def _write(self, response: Any, start: int, total: int | None) -> int:
        done = start
        try:
            with open(self.part, "ab" if start else "wb") as handle:
                if self.on_progress:
                    self.on_progress(done, total)
                for chunk in response.iter_bytes():  # no chunk_size: a re-chunker would drop its buffer on error
                    handle.write(chunk)
                    done += len(chunk)
                    if self.on_progress:
                        self.on_progress(done, total)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(self.part.parent) from None
            raise DownloadError(f"cannot write {self.part}: {exc.strerror or exc}", "check the cache folder") from None
        return done


def download(
    url: str,
    part: Path,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    retry_delay: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_progress: ProgressFn | None = None,
) -> Downloaded:
    """Fetch `url` into `part` (resuming it), retrying transient errors; raise a one-line `DownloadError`."""
    import httpx

    delay = env_retry_delay() if retry_delay is None else retry_delay
    part.parent.mkdir(parents=True, exist_ok=True)
    headers = {"User-Agent": f"picodet/{__version__}", "Accept-Encoding": "identity"}
    error = DownloadError(f"could not download {url}")
    with httpx.Client(follow_redirects=True, timeout=timeout, headers=headers) as client:
        transfer = _Transfer(client, url, part, on_progress)
        for attempt in range(1, attempts + 1):
            try:
                size = transfer.attempt()
                return Downloaded(size=size, reused=transfer.reused or 0)
            except _Retry as exc:
                error = exc.error
            except httpx.TimeoutException as exc:
                error = DownloadError(f"timed out downloading {url} ({type(exc).__name__})", NETWORK_HINT)
            except httpx.ConnectError as exc:
                error = DownloadError(f"cannot connect to {urlsplit(url).netloc}: {exc}", NETWORK_HINT)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise DownloadError(f"invalid URL {url}: {exc}", "use an http:// or https:// URL") from None
            except httpx.TransportError as exc:
                error = DownloadError(f"connection lost while downloading {url}: {exc}", RESUME_HINT)
            if attempt < attempts:
                time.sleep(delay * 2 ** (attempt - 1))
    raise DownloadError(f"{error.message} (gave up after {attempts} attempts)", error.hint)
