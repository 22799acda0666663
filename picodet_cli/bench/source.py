"""What is benchmarked: a zoo model, a checkpoint, or an existing export folder; with FLOPs, params, digest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PicodetError


@dataclass
class Source:
    """The model under test. `model` is None for an export folder (only its artifacts are run)."""

    name: str
    model: Any
    input_size: int
    num_classes: int
    class_names: list[str]
    weights_sha256: str | None
    weights: Path | None = None  # the checkpoint file (None: random initialisation or an export folder)
    export_dir: Path | None = None
    artifact: Any = None  # the `runtimes.registry.Artifact` when MODEL is one exported model (file or its folder)
    entry: Any = None  # ZooEntry for zoo models: the published numbers
    gflops: float | None = None
    params: int | None = None


def _count(model: Any, size: int) -> tuple[float, int]:
    from ..models.flops import count_flops, count_params

    return count_flops(model, size), count_params(model)


def _folder_meta(folder: Path) -> dict[str, Any]:
    """The picodet.json of any format subfolder (or ONNX metadata) of an export folder."""
    from ..export.metadata import read_sidecar
    from ..runtimes.model import RuntimeModel

    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        meta = read_sidecar(sub)
        if meta is not None:
            return meta
    return RuntimeModel(folder, threads=1).meta


def from_export_folder(folder: Path) -> Source:
    """An export folder given as MODEL: benchmark its artifacts as they are (FLOPs from the architecture)."""
    return from_meta(_folder_meta(folder), folder, folder.name)


def from_artifact(path: Path) -> Source:
    """One exported model given as MODEL (e.g. a PaddleDetection ONNX, with or without in-graph NMS): benchmarked
    as it is, in its own format; no FLOPs where its metadata names no architecture."""
    from ..runtimes.model import RuntimeModel

    model = RuntimeModel(path, threads=1)
    source = from_meta(model.meta, path, model.artifact.path.stem)
    source.artifact = model.artifact
    return source


def from_meta(meta: dict[str, Any], folder: Path, name: str) -> Source:
    """A Source for exported artifacts described by `meta` (picodet.json or ONNX metadata)."""
    from ..models.registry import build_model
    from ..predict.predictor import default_class_names

    size, classes = int(meta["input_size"][0]), int(meta["num_classes"])
    source = Source(
        meta.get("model") or name, None, size, classes, meta.get("class_names") or default_class_names(classes),
        None, export_dir=folder,
    )  # fmt: skip
    if meta.get("arch"):
        source.gflops, source.params = _count(build_model(meta["arch"], num_classes=classes, input_size=size), size)
    return source


def _single_artifact(path: Path) -> bool:
    """Whether `path` is one exported model (a file, or a folder holding the model file itself) rather than an
    export folder of format subfolders."""
    from ..runtimes.registry import locate_artifact

    return path.is_file() or locate_artifact(path).path.parent == path


def resolve_source(
    model: str,
    weights: str | None = None,
    imgsz: int | None = None,
    num_classes: int | None = None,
    cache_dir: str | Path | None = None,
) -> Source:
    """Build MODEL (zoo name, architecture + weights, run weights file) or read an export folder."""
    from ..defaults import check_input_size
    from ..models.pretrained import create_model, state_digest
    from ..predict.predictor import default_class_names
    from ..runtimes.registry import looks_like_artifact

    if looks_like_artifact(model):
        if weights is not None or imgsz is not None:
            raise PicodetError("an exported model is benchmarked as it is", "drop --weights and --imgsz")
        return from_artifact(Path(model)) if _single_artifact(Path(model)) else from_export_folder(Path(model))
    problem = None if imgsz is None else check_input_size(imgsz)
    if problem:
        raise PicodetError(f"--imgsz {problem}", "use e.g. 320 or 416")
    loaded = create_model(model, weights, num_classes=num_classes, input_size=imgsz, cache_dir=cache_dir)
    layer = loaded.model
    layer.eval()
    names = loaded.class_names or default_class_names(layer.num_classes)
    source = Source(
        Path(model).stem if model.endswith(".pdparams") else model, layer, layer.input_size, layer.num_classes,
        list(names), state_digest(layer), loaded.weights, entry=loaded.entry,
    )  # fmt: skip
    source.gflops, source.params = _count(layer, layer.input_size)
    return source
