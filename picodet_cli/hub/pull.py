"""From what the user types (zoo name or alias, http(s) URL, local path) to a verified checkpoint file.

`pull` downloads into the cache under a per-file lock and accepts a download only after its size, sha256 and
state-dict structure check out; anything that fails is moved to quarantine/ (never resumed onto). The sha256 is
zoo.toml's (or one given), else the pin that the first verified download recorded: a download with other bytes
is refused unless `trust_new`, even with `force` and after `cache rm`. `resolve_checkpoint` is what
predict/eval/export/train call: cached files are re-hashed when their stat changed since they were verified.
Progress, waits and retries are reported through `on_event` (events.py); nothing here prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import ChecksumError, DownloadError, NotInCache, PicodetError
from ..io import file_lock, sha256_file
from ..settings import get_settings
from ..zoo import load_zoo
from .cache import PART_SUFFIX, Cache, VerifyResult, checksum_error, digest_mismatch, file_stat, utc_now
from .download import DEFAULT_ATTEMPTS, DEFAULT_DEADLINE, StallRule, discard_part, download, validator_path
from .events import EventFn, Progress, Retrying, Waiting


@dataclass(frozen=True)
class PullResult:
    """Where a checkpoint is and how it got there: status "downloaded", "resumed", "cached" or "local"."""

    name: str
    path: Path
    url: str
    size: int
    sha256: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class _Target:
    """A remote checkpoint: where to fetch it, where it lands in the cache, what digest to expect."""

    name: str
    zoo_name: str | None
    file_name: str
    url: str
    expected_sha256: str | None
    expected_from: str = "zoo"  # "zoo" (zoo.toml) or "expected" (given by the caller)

    @property
    def pull_name(self) -> str:
        """What to type after `picodet pull` to fetch it again."""
        return self.zoo_name or self.url


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def apply_mirror(url: str, mirror: str | None) -> str:
    """Swap scheme and host(:port) of `url` for the mirror's, prefixing the mirror's path if it has one."""
    if not mirror:
        return url
    base = urlsplit(mirror.strip())
    if base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment:
        raise PicodetError(
            f"invalid mirror '{mirror}'", "use an http(s) URL such as http://127.0.0.1:8000 or https://host/prefix"
        )
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))


def url_file_name(url: str) -> str:
    """The cache file name of a URL: the last path segment."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name.startswith(".") or "/" in name or "\\" in name or name.endswith(PART_SUFFIX):
        raise PicodetError(
            f"cannot tell a file name from the URL {url}", "use a URL that ends in the file name, e.g. …/model.pdparams"
        )
    return name


def _target(source: str, mirror: str | None) -> _Target | None:
    """The remote checkpoint `source` names, or None when it is not a URL or zoo name."""
    if is_url(source):
        file_name = url_file_name(source)
        return _Target(file_name, None, file_name, source, None)
    entry = load_zoo().find(source)
    if entry is None:
        return None
    url = apply_mirror(entry.weights_url, mirror)
    return _Target(entry.name, entry.name, entry.file_name, url, entry.sha256 or None)


def _local_path(source: str) -> Path:
    """`source` as an existing file, else the zoo's 'unknown model, did you mean' error."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if _looks_like_path(source):
        raise PicodetError(
            f"no such file: {source}", "give an existing .pdparams path or a zoo name (see `picodet zoo`)"
        )
    raise _unknown(source)


def _looks_like_path(source: str) -> bool:
    return os.sep in source or "/" in source or source.lower().endswith(".pdparams")


def _unknown(source: str) -> PicodetError:
    return PicodetError(f"unknown model '{source}'", load_zoo().suggest(source))


def _not_cached(cache: Cache, target: _Target) -> NotInCache:
    return NotInCache(
        f"'{target.pull_name}' is not in the cache ({cache.root}) and PICODET_OFFLINE=1 forbids downloading",
        f"picodet pull {target.pull_name} (with network access and PICODET_OFFLINE unset)",
    )


@contextlib.contextmanager
def _target_lock(cache: Cache, file_name: str, on_event: EventFn | None) -> Iterator[None]:
    """Hold the per-file lock, reporting `Waiting` when another process has it."""
    from filelock import Timeout

    lock = cache.lock_path(file_name)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(lock, timeout=0))
        except Timeout:
            if on_event:
                on_event(Waiting(file_name, lock))
            stack.enter_context(file_lock(lock))
        yield


def _reuse(cache: Cache, target: _Target) -> PullResult | None:
    """The cached file (re-hashed if its stat changed since it was verified), None if absent; a mismatch is
    quarantined and raised."""
    path = cache.file_path(target.file_name)
    if not path.is_file():
        return None
    result = cache.verify_file(target.file_name, target.expected_sha256, if_changed=True)
    if not result.ok:
        raise checksum_error(target.file_name, result, target.pull_name)
    url = (cache.record(target.file_name) or {}).get("url", target.url)
    return PullResult(target.name, path, url, path.stat().st_size, result.actual, "cached")


def _quarantine_part(cache: Cache, part: Path) -> Path:
    validator_path(part).unlink(missing_ok=True)
    return cache.quarantine(part)


def _accept(cache: Cache, target: _Target, part: Path, trust_new: bool) -> str:
    """Check a finished part (sha256, loadable state dict); quarantine and raise if it fails. Returns its sha256.

    zoo.toml's (or the given) digest must match; otherwise the pinned digest must, unless `trust_new`.
    """
    from .safe_load import load_state_dict

    sha = sha256_file(part)
    pinned = cache.pin(target.file_name)
    expected = target.expected_sha256 or (None if trust_new else pinned)
    if expected and sha != expected:
        moved = _quarantine_part(cache, part)
        source = target.expected_from if target.expected_sha256 else "recorded"
        if target.expected_sha256:
            hint = "try another --mirror" if source == "zoo" else "check the digest you gave, or the URL"
        else:
            hint = (
                f"if the upstream file really changed, accept it with: picodet pull {target.pull_name} --trust-new; "
                "otherwise try another --mirror"
            )
        raise ChecksumError(digest_mismatch(target.url, expected, sha, source, str(moved)), hint)
    try:
        load_state_dict(part)
    except Exception as exc:  # a hostile or broken download is quarantined whatever the failure
        reason = exc.message if isinstance(exc, PicodetError) else f"{type(exc).__name__}: {exc}"
        moved = _quarantine_part(cache, part)
        raise DownloadError(
            f"{target.url} is not a loadable checkpoint ({reason}); moved to {moved}",
            f"check the URL or --mirror, then picodet pull {target.pull_name}",
        ) from None
    if sha != pinned:
        cache.set_pin(target.file_name, sha, target.url, "trust-new" if pinned else "first download")
    return sha


def _fetch(
    cache: Cache, target: _Target, *, force: bool, trust_new: bool, on_event: EventFn | None, **net: Any
) -> PullResult:
    """Download (resuming), verify, then move into place and record; call with the target's lock held."""
    part = cache.part_path(target.file_name)
    if force:
        discard_part(part)
    name = target.file_name
    got = download(
        target.url,
        part,
        on_progress=(lambda done, total: on_event(Progress(name, done, total))) if on_event else None,
        on_retry=(lambda reason: on_event(Retrying(name, reason))) if on_event else None,
        **net,
    )
    sha = _accept(cache, target, part, trust_new)
    final = cache.file_path(target.file_name)
    os.replace(part, final)
    now = utc_now()
    record = {
        "url": target.url,
        "size": got.size,
        "sha256": sha,
        "sha256_source": "zoo" if target.expected_sha256 else "recorded",
        "name": target.zoo_name,
        "downloaded_at": now,
        "verified_at": now,
        "stat": file_stat(final),
        "verify": "ok",
    }
    cache.put_record(target.file_name, record)
    status = "resumed" if got.reused else "downloaded"
    return PullResult(target.name, final, target.url, got.size, sha, status)


def pull(
    source: str,
    *,
    force: bool = False,
    trust_new: bool = False,
    mirror: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_event: EventFn | None = None,
    expected_sha256: str | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    retry_delay: float | None = None,
    stall: StallRule | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> PullResult:
    """Make `source` (zoo name/alias, http(s) URL or local file) available as a verified checkpoint.

    `mirror` (default $PICODET_MIRROR) rewrites zoo URLs; `expected_sha256` overrides zoo.toml's digest;
    `force` downloads again even when cached; `trust_new` accepts bytes that differ from the pinned digest (and
    pins them). `on_event` receives `Waiting`/`Progress`/`Retrying` events. `attempts`, `retry_delay`, `stall`
    and `deadline` tune the download (see `download`).
    """
    settings = get_settings(cache_dir)
    target = _target(source, mirror or settings.mirror)
    if target is None:
        return _pull_local(_local_path(source))
    if expected_sha256:
        target = replace(target, expected_sha256=expected_sha256.lower(), expected_from="expected")
    cache = Cache(settings.cache_dir)
    if not force and (hit := _reuse(cache, target)):
        return hit
    if settings.offline and not force:
        raise _not_cached(cache, target)
    net = {"attempts": attempts, "retry_delay": retry_delay, "stall": stall, "deadline": deadline}
    with _target_lock(cache, target.file_name, on_event):
        if not force and (hit := _reuse(cache, target)):  # another process may have finished it meanwhile
            return hit
        return _fetch(cache, target, force=force, trust_new=trust_new, on_event=on_event, **net)


def _pull_local(path: Path) -> PullResult:
    from .safe_load import load_state_dict

    load_state_dict(path)
    path = path.resolve()
    return PullResult(path.stem, path, path.as_uri(), path.stat().st_size, sha256_file(path), "local")


def resolve_checkpoint(
    source: str, cache_dir: str | os.PathLike[str] | None = None, on_event: EventFn | None = None
) -> Path:
    """The checkpoint file for predict/eval/export/train: a local path as is, a zoo name or URL from the cache
    (re-hashed when its stat changed since it was verified; pulled first when absent and online; `NotInCache`
    when offline). A cached file that no longer matches its digest is quarantined and raised."""
    settings = get_settings(cache_dir)
    target = _target(source, settings.mirror)
    if target is None:
        return _local_path(source)
    cache = Cache(settings.cache_dir)
    if hit := _reuse(cache, target):
        return hit.path
    if settings.offline:
        raise _not_cached(cache, target)
    return pull(source, cache_dir=cache_dir, on_event=on_event).path


def cache_file_name(source: str, cache: Cache) -> str:
    """The cache file a zoo name, URL, cache path or file name refers to."""
    target = _target(source, None)
    if target is not None:
        return target.file_name
    path = Path(source).expanduser()
    name = path.name[: -len(PART_SUFFIX)] if path.name.endswith(PART_SUFFIX) else path.name
    in_cache = path.parent == Path() or path.parent.resolve() == cache.models_dir.resolve()
    known = cache.record(name) or cache.pin(name)
    if in_cache and (cache.file_path(name).exists() or cache.part_path(name).exists() or known):
        return name
    if _looks_like_path(source):
        raise PicodetError(f"{source} is not in the cache ({cache.models_dir})", "see `picodet cache ls`")
    raise _unknown(source)


def _zoo_sha256(file_name: str) -> str | None:
    return next((e.sha256 for e in load_zoo() if e.file_name == file_name and e.sha256), None)


def _pull_name(file_name: str, record: dict[str, Any]) -> str:
    """What to type after `picodet pull` to fetch a cached file again."""
    zoo_name = next((e.name for e in load_zoo() if e.file_name == file_name), None)
    return record.get("name") or zoo_name or record.get("url") or file_name


def verify(source: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> list[VerifyResult]:
    """Re-hash one cached file (or all of them) against zoo.toml / the manifest; bad files go to quarantine."""
    cache = Cache.open(cache_dir)
    if source is None:
        files = [
            item.file for item in cache.items() if item.state != "partial" and cache.file_path(item.file).is_file()
        ]
    else:
        files = [cache_file_name(source, cache)]
        if not cache.file_path(files[0]).is_file():
            raise NotInCache(f"'{source}' is not in the cache ({cache.root})", f"picodet pull {source}")
    return [cache.verify_file(name, _zoo_sha256(name)) for name in files]


def verify_error(results: list[VerifyResult], cache_dir: str | os.PathLike[str] | None = None) -> ChecksumError | None:
    """One error for the failed results (None if all passed), with the pull command that repairs them."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return None
    cache = Cache.open(cache_dir)
    records = cache.records()
    names = [_pull_name(r.file, records.get(r.file, {})) for r in bad]
    if len(bad) == 1:
        return checksum_error(bad[0].file, bad[0], names[0])
    return ChecksumError(
        f"{len(bad)} cached files failed verification and were moved to {cache.quarantine_dir}: "
        + ", ".join(r.file for r in bad),
        f"picodet pull {' '.join(names)} --force",
    )


def remove(source: str, cache_dir: str | os.PathLike[str] | None = None, forget: bool = False) -> list[str]:
    """Delete a cached file, its partial download and its manifest record (its pinned digest stays unless
    `forget`); return what was removed."""
    cache = Cache.open(cache_dir)
    removed = cache.remove(cache_file_name(source, cache), forget)
    if not removed:
        raise PicodetError(f"'{source}' is not in the cache ({cache.root})", "see `picodet cache ls`")
    return removed
