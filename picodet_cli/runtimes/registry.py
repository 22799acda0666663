"""Pick the runtime adapter for an exported artifact (a file, a format folder or a whole export folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from .base import Runtime

# (format, runtime, how to recognise its main file); an export folder is searched in this order
ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("onnx", "onnxruntime", "*.onnx"),
    ("openvino", "openvino", "*.xml"),
    ("ncnn", "ncnn", "*.ncnn.param"),
    ("mnn", "mnn", "*.mnn"),
    ("paddle", "paddle", "model.json"),
    ("paddle", "paddle", "model.pdmodel"),  # legacy programs, e.g. the INT8 model of `picodet quantize`
    ("lite", "lite", "*x86*.nb"),
    ("lite", "lite", "*.nb"),
)
HINT = "give an exported file or folder (.onnx, .xml, .ncnn.param, .mnn, model.json, model.pdmodel, .nb)"


def runtime_class(name: str) -> type[Runtime]:
    """The adapter class for a runtime name."""
    from .lite import LiteRuntime
    from .mnn import MnnRuntime
    from .ncnn import NcnnRuntime
    from .onnxruntime import OnnxRuntime
    from .openvino import OpenVinoRuntime
    from .paddle import PaddleRuntime

    classes = (OnnxRuntime, OpenVinoRuntime, NcnnRuntime, MnnRuntime, PaddleRuntime, LiteRuntime)
    for cls in classes:
        if cls.name == name:
            return cls
    raise PicodetError(f"unknown runtime '{name}'", f"runtimes: {', '.join(c.name for c in classes)}")


@dataclass(frozen=True)
class Artifact:
    """An exported model file and the format/runtime that reads it."""

    format: str
    runtime: str
    path: Path


def _match(path: Path) -> Artifact | None:
    """The artifact a file is, by name (pnnx's side files are not artifacts)."""
    if path.name.endswith((".pnnx.onnx", ".pnnxsim.onnx")):
        return None
    return next((Artifact(fmt, rt, path) for fmt, rt, pattern in ARTIFACTS if path.match(pattern)), None)


def _search(folder: Path) -> Artifact | None:
    """The first artifact in `folder`, in ARTIFACTS order (so an x86 .nb beats an arm one)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and _match(p) is not None)
    for _, _, pattern in ARTIFACTS:
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
        for fmt, _, _ in ARTIFACTS:
            if found is not None:
                break
            found = next((_search(p) for p in subfolders if p.name in (fmt, f"{fmt}_int8")), None)
    else:
        raise PicodetError(f"{path}: no such file or folder", HINT)
    if found is None:
        raise PicodetError(f"{path} is not an exported model", HINT)
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
    """Load `artifact` in its runtime (MissingDependency with the pip command when it is not installed)."""
    runtime: Any = runtime_class(artifact.runtime)()
    runtime.require()
    runtime.load(artifact.path, threads=threads, fp16=fp16)
    return runtime
