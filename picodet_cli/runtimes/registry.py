"""Pick the runtime adapter for an exported artifact (a file, a format folder or a whole export folder).

Which files are artifacts and what runs them comes from the format table (`export/formats.py`); an export folder
is searched in the table's `search_rank` order. Loading goes through `open_runtime`, which turns a broken or
hostile file into one PicodetError line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from ..export.formats import FORMATS, Format
from .base import Runtime

SIDE_FILES = (".pnnx.onnx", ".pnnxsim.onnx")  # pnnx's intermediates beside an ncnn model: not artifacts


def _search_order() -> list[Format]:
    return sorted(FORMATS, key=lambda f: f.search_rank)


def hint() -> str:
    """What an exported model looks like, for error hints."""
    patterns = ", ".join(dict.fromkeys(p.replace("*x86*", "*") for f in _search_order() for p in f.artifacts))
    return f"give an exported file or folder ({patterns})"


def runtime_class(name: str) -> type[Runtime]:
    """The adapter class for a runtime name (as `Format.runtime_name`)."""
    for fmt in FORMATS:
        if fmt.runtime_name == name:
            return fmt.adapter()
    known = ", ".join(dict.fromkeys(f.runtime_name for f in FORMATS))
    raise PicodetError(f"unknown runtime '{name}'", f"runtimes: {known}")


@dataclass(frozen=True)
class Artifact:
    """An exported model file and the format/runtime that reads it."""

    format: str
    runtime: str
    path: Path


def _match(path: Path) -> Artifact | None:
    """The artifact a file is, by name."""
    if path.name.endswith(SIDE_FILES):
        return None
    fmt = next((f for f in _search_order() if f.is_artifact(path.name)), None)
    return None if fmt is None else Artifact(fmt.name, fmt.runtime_name, path)


def _search(folder: Path) -> Artifact | None:
    """The first artifact in `folder`, in search order and each format's pattern order (an x86 .nb first)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and _match(p) is not None)
    for fmt in _search_order():
        for pattern in fmt.artifacts:
            for path in files:
                if path.match(pattern):
                    return _match(path)
    return None


def locate_artifact(path: str | Path) -> Artifact:
    """The artifact at `path`: a model file, a folder holding one, or an export or quantization folder (first format
    found; `<format>_int8` folders count as `<format>`)."""
    path = Path(path)
    if path.is_file():
        found = _match(path)
    elif path.is_dir():
        found = _search(path)
        subfolders = sorted(p for p in path.iterdir() if p.is_dir())
        for fmt in _search_order():
            if found is not None:
                break
            found = next((_search(p) for p in subfolders if p.name in (fmt.name, f"{fmt.name}_int8")), None)
    else:
        raise PicodetError(f"{path}: no such file or folder", hint())
    if found is None:
        raise PicodetError(f"{path} is not an exported model", hint())
    return found


def looks_like_artifact(path: str | Path) -> bool:
    """Whether `path` names an existing exported model (so predict should not treat it as a zoo name)."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        locate_artifact(path)
    except PicodetError:
        return False
    return True


def open_runtime(artifact: Artifact, threads: int = 2, fp16: bool = False) -> Runtime:
    """Load `artifact` in its runtime: MissingDependency (with the pip command) when it is not installed, one
    PicodetError line when the file is broken (truncated, garbage, hostile)."""
    runtime: Any = runtime_class(artifact.runtime)()
    runtime.require()
    try:
        runtime.load(artifact.path, threads=threads, fp16=fp16)
    except PicodetError:
        raise
    except Exception as error:
        if os.environ.get("PICODET_DEBUG"):
            raise
        raise unreadable(artifact, error) from None
    return runtime


def unreadable(artifact: Artifact, error: BaseException) -> PicodetError:
    """One line for a file its runtime cannot read (the innermost cause's last line: OpenVINO stacks its call
    sites first, MNN raises a SystemError whose cause holds the message)."""
    cause = error.__cause__ or error.__context__ if isinstance(error, SystemError) else None
    lines = [line.strip() for line in str(cause or error).splitlines() if line.strip()]
    detail = lines[-1][:200] if lines else type(error).__name__
    return PicodetError(
        f"{artifact.path} is not a readable {artifact.format} model ({artifact.runtime}: {detail})",
        "export the model again; the file may be truncated or corrupt",
    )
