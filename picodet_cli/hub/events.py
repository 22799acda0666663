"""What `pull` reports while it works, through one `on_event` callback: the library never prints, the CLI draws."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Waiting:
    """Another process holds the download lock of `file`; pull waits for it."""

    file: str
    lock: Path


@dataclass(frozen=True)
class Progress:
    """`done` of `total` bytes (None: unknown) of `file` are on disk; `done` drops when a download starts over."""

    file: str
    done: int
    total: int | None


@dataclass(frozen=True)
class Retrying:
    """An attempt failed for `reason` (a stall, a dropped connection, a server error); another one follows."""

    file: str
    reason: str


PullEvent = Waiting | Progress | Retrying
EventFn = Callable[[PullEvent], None]
