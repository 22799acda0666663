"""Progress for long work: rich bars on a terminal, plain complete lines in a file or a CI log.

The library reports through callbacks (a trainer reporter, `progress(n)` counters, `say(message)`); this module
turns them into output. Nothing here is imported by the library.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .console import err_console, show_path


def interactive() -> bool:
    """Whether progress goes to a terminal (bars) or to a file / pipe (plain lines)."""
    return err_console.is_terminal


def say(message: str) -> None:
    """One status line on stderr (paths shown relative to the working folder where shorter)."""
    from rich.markup import escape

    err_console.print(f"[bold]{escape(message)}[/]", soft_wrap=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TrainReporter:
    """Training progress: one bar over all steps on a terminal; otherwise one line per epoch with losses and ETA."""

    def __init__(self, plain: bool | None = None) -> None:
        self.plain = not interactive() if plain is None else plain
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0
        self.first_step = 0
        self.total = 0

    def start(self, trainer: Any, total_steps: int) -> None:
        self.started, self.first_step, self.total = time.monotonic(), trainer.state.step, total_steps
        if self.plain:
            err_console.print(f"training: {total_steps} steps, {trainer.cfg.epochs} epochs", soft_wrap=True)
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total_steps, completed=trainer.state.step, epoch=self._epoch(trainer), losses=""
        )

    @staticmethod
    def _epoch(trainer: Any) -> str:
        return f"{trainer.state.epoch + 1}/{trainer.cfg.epochs}"

    @staticmethod
    def _losses(values: dict[str, float]) -> str:
        return (
            f"loss {values['loss']:.3f} (vfl {values['loss_vfl']:.3f} box {values['loss_bbox']:.3f} "
            f"dfl {values['loss_dfl']:.3f}) lr {values['lr']:.4g}"
        )

    def step(self, trainer: Any, values: dict[str, float]) -> None:
        if not self.plain:
            self.progress.update(
                self.task, completed=trainer.state.step, epoch=self._epoch(trainer), losses=self._losses(values)
            )
            return
        if trainer.state.batch_in_epoch != trainer.iters_per_epoch:
            return
        elapsed = time.monotonic() - self.started
        done = trainer.state.step - self.first_step
        eta = elapsed / done * (self.total - trainer.state.step) if done else 0.0
        err_console.print(
            f"epoch {self._epoch(trainer)}  step {trainer.state.step}/{self.total}  {self._losses(values)}  "
            f"elapsed {_clock(elapsed)}  eta {_clock(eta)}",
            soft_wrap=True,
        )

    def eval(self, trainer: Any, metrics: dict[str, float]) -> None:
        self.note(
            f"epoch {trainer.state.epoch}: mAP {metrics['map']:.4f}  mAP50 {metrics['map50']:.4f}"
            f"  (best mAP {max(trainer.state.best_metric, metrics['map']):.4f})",
            style="",
        )

    def note(self, message: str, style: str = "cyan") -> None:
        target = self.progress.console if self.progress is not None else err_console
        target.print(f"[{style}]{message}[/]" if style else message, soft_wrap=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@contextlib.contextmanager
def counter(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """`advance(n)` for work of `total` items: a bar on a terminal, a start and an end line otherwise."""
    if not interactive():
        started = time.monotonic()
        err_console.print(f"{label}: {total} ...", soft_wrap=True)
        yield lambda n: None
        err_console.print(f"{label}: {total} done in {time.monotonic() - started:.0f} s", soft_wrap=True)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def captured_stdout() -> Iterator[None]:
    """Hold third-party prints (onnxruntime's calibration "Collecting tensor data ...", converters' banners).

    Only Python-level stdout: picodet's own output goes to stderr while work runs, and the command prints its
    results after. With PICODET_DEBUG=1 the captured text is replayed on stderr.
    """
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        if os.environ.get("PICODET_DEBUG") and buffer.getvalue():
            sys.stderr.write(buffer.getvalue())


__all__ = ["TrainReporter", "captured_stdout", "counter", "interactive", "say", "show_path"]
