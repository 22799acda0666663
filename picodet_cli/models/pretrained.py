"""The one build funnel: zoo name or architecture + weights -> a ready PicoDet layer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from ..zoo import ZooEntry, load_zoo
from .spec import ArchSpec


@dataclass
class LoadedModel:
    """A built model with where its weights came from and what loading reported."""

    model: object  # PicoDet
    entry: ZooEntry | None
    weights: Path | None
    report: object | None  # LoadReport
    class_names: list[str] | None = None


def num_classes_in(state_dict: dict[str, np.ndarray], reg_max: int = 7) -> int | None:
    """Infer the class count from the first head conv (shared or separate cls/reg)."""
    weight = state_dict.get("head.head_cls0.weight")
    if weight is None:
        return None
    channels = int(weight.shape[0])
    return channels if "head.head_reg0.weight" in state_dict else channels - 4 * (reg_max + 1)


def create_model(
    name: str,
    weights: str | Path | None = None,
    *,
    pretrained: bool = True,
    num_classes: int | None = None,
    input_size: int | None = None,
    strict: bool = True,
    cache_dir: str | Path | None = None,
) -> LoadedModel:
    """Build `name` (zoo model or architecture) and load weights.

    `weights` is a checkpoint path or zoo name; without it a zoo model loads its official checkpoint
    (pulled into the cache when needed) unless `pretrained` is False. The class count follows the
    checkpoint unless `num_classes` asks for another one (the class layers are then re-initialised).
    """
    from .registry import build_model, resolve_arch

    trained = read_run_weights_meta(str(weights) if weights is not None else name)
    if trained is not None:  # a run's weights bring their model.json (architecture, input size, class names)
        meta, weights = trained
        spec, default_size = (
            ArchSpec(**(meta["arch"] | {"strides": tuple(meta["arch"]["strides"])})),
            meta["input_size"],
        )
        loaded = create_model_from(spec, default_size, weights, num_classes, input_size, strict, cache_dir)
        loaded.class_names = meta.get("class_names")
        return loaded
    if weights is None and Path(name).suffix == ".pdparams":  # a checkpoint file as MODEL, without its model.json
        raise PicodetError(
            f"{name}: no model.json beside it, so its architecture and input size are unknown",
            f"give the architecture as MODEL and the file as --weights, e.g. s-416 --weights {name}",
        )
    entry = load_zoo().find(name)
    spec, default_size = resolve_arch(name)
    source = weights if weights is not None else (entry.name if entry and pretrained else None)
    if source is None:
        model = build_model(spec, num_classes=num_classes or 80, input_size=input_size or default_size)
        return LoadedModel(model, entry, None, None)
    loaded = create_model_from(spec, default_size, source, num_classes, input_size, strict, cache_dir)
    loaded.entry = entry
    return loaded


def read_run_weights_meta(name: str) -> tuple[dict, Path] | None:
    """(model.json, weights path) when `name` is a `.pdparams` written by `picodet train` (model.json beside it)."""
    import json

    path = Path(name)
    if path.suffix == ".pdparams" and not path.is_file():
        raise PicodetError(
            f"{name}: no such file", "give the path of a .pdparams file (e.g. RUN/weights/best.pdparams)"
        )
    if path.suffix != ".pdparams" or not (path.parent / "model.json").is_file():
        return None
    return json.loads((path.parent / "model.json").read_text()), path


def create_model_from(
    spec: ArchSpec,
    default_size: int | None,
    source: str | Path,
    num_classes: int | None,
    input_size: int | None,
    strict: bool,
    cache_dir: str | Path | None,
) -> LoadedModel:
    """Build `spec` and load the checkpoint `source` (a path or zoo name) into it."""
    from ..hub.pull import resolve_checkpoint
    from ..hub.safe_load import load_state_dict
    from .loading import load_weights
    from .registry import arch_for_state_dict, build_model

    path = resolve_checkpoint(str(source), cache_dir=cache_dir)
    state = load_state_dict(path)
    spec = arch_for_state_dict(state, spec)
    found = num_classes_in(state, spec.reg_max)
    if found is None:
        raise PicodetError(
            f"{path} has no PicoDet head (head.head_cls0.weight missing)", "is this a PicoDet checkpoint?"
        )
    model = build_model(spec, num_classes=num_classes or found, input_size=input_size or default_size)
    report = load_weights(model, state, strict=strict)
    return LoadedModel(model, None, path, report)


def state_digest(model: Any) -> str:
    """sha256 over the model's state dict (sorted names, shapes, float32 bytes): the export cache key."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.numpy()
        digest.update(f"{name}:{list(array.shape)}:{array.dtype};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
