"""The one runtime interface: `load(path, threads)` then `run({name: array}) -> [array]`; imports inside `load`."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import MissingDependency


class Runtime:
    """Base class of the runtime adapters: one loaded model per instance."""

    name: ClassVar[str] = ""
    module: ClassVar[str] = ""  # the Python module the runtime needs
    pip: ClassVar[str] = ""  # what to pip install when it is missing

    def __init__(self) -> None:
        self.session: Any = None

    @classmethod
    def available(cls) -> bool:
        """Whether the runtime's module imports (a real import, so a broken install counts as missing)."""
        try:
            with quiet_stdout():
                importlib.import_module(cls.module)
        except ImportError:
            return False
        return True

    @classmethod
    def require(cls) -> None:
        """Raise MissingDependency (with the pip command) when the runtime cannot be imported."""
        if not cls.available():
            raise MissingDependency(cls.module, f"the {cls.name} runtime", cls.pip)

    def version(self) -> str:
        with quiet_stdout():
            module = importlib.import_module(self.module)
        return str(getattr(module, "__version__", "unknown"))

    def load(self, path: Path, threads: int = 2, fp16: bool = False) -> Any:
        """Load the artifact at `path`; `fp16` allows reduced-precision execution (else force FP32)."""
        raise NotImplementedError

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the loaded model on named float32 inputs; outputs in the artifact's output order."""
        raise NotImplementedError

    def time_runs(
        self, tensors: list[np.ndarray], warmup: int, runs: int
    ) -> tuple[list[float], list[list[np.ndarray]]] | None:
        """(seconds per timed run, outputs per tensor) timed by the runtime in one process of its own, for runtimes
        whose `run` starts a process per call; None (the default): time `run` call by call."""
        return None


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence what native code writes to stdout (fd 1), such as MNN's CPU-feature banner, so output and
    `--json` stay clean; with PICODET_DEBUG=1 it goes to stderr instead."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = 2 if os.environ.get("PICODET_DEBUG") else os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        if sink != 2:
            os.close(sink)
