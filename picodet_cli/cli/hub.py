"""`picodet pull` and `picodet cache ls|verify|rm|dir`: fetch checkpoints and look after the cache."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..errors import PicodetError
from .console import console, err_console, human_size, print_error, print_json
from .options import CacheDirOpt, JsonOpt

if TYPE_CHECKING:
    from ..hub.events import PullEvent

NamesArg = Annotated[
    list[str],
    typer.Argument(help="Zoo names or aliases, `all`, http(s) URLs or local .pdparams paths.", metavar="NAME..."),
]
MirrorOpt = Annotated[
    str | None,
    typer.Option(
        "--mirror", metavar="URL", help="Fetch zoo files from this host, keeping their path ($PICODET_MIRROR)."
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Download again even if the file is cached.")]
TrustNewOpt = Annotated[
    bool,
    typer.Option(
        "--trust-new", help="Accept (and pin) bytes whose sha256 differs from the digest pinned by an earlier download."
    ),
]

PULL_EPILOG = (
    "Examples: picodet pull s-416 | picodet pull all --mirror http://127.0.0.1:8000 | "
    "picodet pull https://example.com/my.pdparams | PICODET_OFFLINE=1 picodet pull s-416 (cache only) | "
    "picodet pull s-416 --force --trust-new (accept a changed upstream file)"
)

cache_app = typer.Typer(help="List, verify and remove cached checkpoints.", no_args_is_help=True)


def _expand(names: list[str]) -> list[str]:
    """`all` stands for every zoo model; duplicates are dropped, order kept."""
    from ..zoo import load_zoo

    expanded = [e.name for e in load_zoo()] if "all" in (n.lower() for n in names) else []
    return list(dict.fromkeys(expanded + [n for n in names if n.lower() != "all"]))


class PullProgress:
    """Draws `pull`'s events on stderr: a rich bar per file (bytes, speed, ETA) from its first byte, and one line
    for a wait on another process's lock or a retry."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        self.bar = Progress(*columns, TimeRemainingColumn(), console=err_console)
        self.tasks: dict[str, Any] = {}
        self.last: dict[str, int] = {}

    def __call__(self, event: PullEvent) -> None:
        from ..hub.events import Progress, Retrying, Waiting

        if isinstance(event, Waiting):
            err_console.print(f"waiting for another picodet process to finish {event.file} (lock: {event.lock}) …")
        elif isinstance(event, Retrying):
            self.bar.console.print(f"[yellow]{event.reason}[/]", soft_wrap=True)
        elif isinstance(event, Progress):
            self._update(event.file, event.done, event.total)

    def _update(self, file: str, done: int, total: int | None) -> None:
        if file not in self.tasks:
            if not self.tasks:
                self.bar.start()
            self.tasks[file] = self.bar.add_task(file, total=total)
        task, last = self.tasks[file], self.last.get(file, -1)
        if done < last or last < 0:  # first answer, or a restart: no speed sample for the jump
            self.bar.reset(task, total=total, completed=done)
        else:
            self.bar.update(task, total=total, completed=done)
        self.last[file] = done

    def stop(self) -> None:
        if self.tasks:
            self.bar.stop()


@contextlib.contextmanager
def pull_progress() -> Iterator[PullProgress]:
    """A `PullProgress` to pass as `on_event`, stopped (its bars finished) on exit."""
    progress = PullProgress()
    try:
        yield progress
    finally:
        progress.stop()


def pull_command(
    names: NamesArg,
    force: ForceOpt = False,
    trust_new: TrustNewOpt = False,
    mirror: MirrorOpt = None,
    cache_dir: CacheDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download checkpoints into the cache: resumable, verified, safe to run twice at once."""
    from ..hub.pull import pull

    sources = _expand(names)
    results, failures = [], 0
    for source in sources:
        try:
            with pull_progress() as on_event:
                options = {"force": force, "trust_new": trust_new, "mirror": mirror, "cache_dir": cache_dir}
                results.append(pull(source, on_event=on_event, **options))
        except PicodetError as error:
            if len(sources) == 1:
                raise
            print_error(error)
            failures += 1
    if as_json:
        print_json([r.to_json() for r in results])
    elif results:
        table = Table(title="pulled", title_justify="left")
        for column in ("model", "status", "size", "sha256", "path"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(r.name, r.status, human_size(r.size), r.sha256[:12], str(r.path))
        console.print(table)
    if failures:
        raise typer.Exit(1)


def _with_zoo_names(rows: list[Any]) -> list[Any]:
    """Fill in the zoo model of files the manifest does not name (partial downloads, untracked files)."""
    from ..zoo import load_zoo

    by_file = {e.file_name: e.name for e in load_zoo()}
    return [row if row.name else replace(row, name=by_file.get(row.file.removesuffix(".part"))) for row in rows]


@cache_app.command("ls")
def cache_ls(as_json: JsonOpt = False, cache_dir: CacheDirOpt = None) -> None:
    """List cached files: size, verification state, zoo model, partial downloads."""
    from ..hub.cache import Cache

    cache = Cache.open(cache_dir)
    items = _with_zoo_names(cache.items())
    if as_json:
        print_json([asdict(item) for item in items])
        return
    if not items:
        console.print(f"the cache {cache.root} holds no models")
        return
    colors = {"ok": "green", "unverified": "yellow", "partial": "yellow"}
    table = Table(title=f"picodet cache: {cache.root}", title_justify="left")
    for column in ("file", "model", "size", "state", "verified", "sha256"):
        table.add_column(column, overflow="fold")
    for item in items:
        color = colors.get(item.state, "red")
        table.add_row(
            item.file,
            item.name or "-",
            human_size(item.size),
            f"[{color}]{item.state}[/]",
            item.verified_at or "-",
            (item.sha256 or "-")[:12],
        )
    console.print(table)
    console.print(f"total {human_size(sum(item.size for item in items))}")


@cache_app.command("verify")
def cache_verify(
    name: Annotated[str | None, typer.Argument(help="Zoo name, URL or cache path (default: every file).")] = None,
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Re-hash cached files against zoo.toml or the manifest; bad files move to quarantine/ (exit 1)."""
    from ..hub.pull import verify, verify_error

    results = verify(name, cache_dir)
    if as_json:
        print_json([asdict(r) for r in results])
    elif not results:
        console.print("nothing to verify: the cache holds no models")
    else:
        table = Table(title="verification", title_justify="left")
        for column in ("file", "result", "checked against", "sha256"):
            table.add_column(column, overflow="fold")
        for r in results:
            result = "[green]ok[/]" if r.ok else f"[red]mismatch[/] → {r.quarantined_to}"
            against = {"zoo": "zoo.toml", "recorded": "manifest", "new": "recorded now"}[r.source]
            table.add_row(r.file, result, against, r.actual[:12])
        console.print(table)
    error = verify_error(results, cache_dir)
    if error:
        raise error


@cache_app.command("rm")
def cache_rm(
    names: Annotated[list[str], typer.Argument(help="Zoo names, URLs or cache paths.", metavar="NAME...")],
    forget: Annotated[
        bool, typer.Option("--forget", help="Also forget the pinned sha256 (the next download pins anew).")
    ] = False,
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Remove cached files with their partial downloads and manifest records; their pinned digests stay."""
    from ..hub.pull import remove

    removed = [path for name in names for path in remove(name, cache_dir, forget)]
    if as_json:
        print_json(removed)
        return
    for path in removed:
        console.print(f"removed {path}")


@cache_app.command("dir")
def cache_dir_command(cache_dir: CacheDirOpt = None) -> None:
    """Print the cache folder ($PICODET_HOME, --cache-dir or the platform cache dir)."""
    from ..settings import get_settings

    console.print(str(get_settings(cache_dir).cache_dir), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("pull", epilog=PULL_EPILOG)(pull_command)
    app.add_typer(cache_app, name="cache")
