"""Run checkpoints: everything needed to resume, written atomically, read back with the safe unpickler.

A run folder holds:
  checkpoints/last.ckpt    model, EMA, optimizer, epoch/step, best metric, RNG states, recipe (resume point)
  weights/last.pdparams    EMA weights as a plain state dict (what eval, predict and export load)
  weights/best.pdparams    EMA weights of the best evaluation so far
  weights/model.json       architecture, classes and input size of those weights
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from ..io import atomic_write, write_json_atomic

FORMAT = "picodet-run-checkpoint"
VERSION = 1


@dataclass
class TrainState:
    """The resumable state of a run besides the tensors."""

    epoch: int = 0  # epochs fully completed
    step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # batches done inside `epoch` (non-zero after an interrupted epoch)
    best_metric: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


def save_pickle_atomic(path: Path, obj: Any) -> None:
    with atomic_write(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=4)


def save_checkpoint(
    path: Path,
    *,
    model: dict[str, np.ndarray],
    ema: dict[str, Any] | None,
    optimizer: dict[str, Any],
    state: TrainState,
    meta: dict[str, Any],
    rng: dict[str, Any],
) -> None:
    """Write a resume checkpoint atomically: the previous one stays valid until the new one is complete."""
    save_pickle_atomic(
        path,
        {
            "format": FORMAT,
            "version": VERSION,
            "model": model,
            "ema": ema,
            "optimizer": optimizer,
            "state": state.__dict__,
            "meta": meta,
            "rng": rng,
        },
    )


def load_checkpoint(path: Path) -> dict[str, Any]:
    from ..hub.safe_load import safe_unpickle

    if not path.is_file():
        raise PicodetError(f"no checkpoint at {path}", "start a run with `picodet train --recipe FILE` first")
    data = safe_unpickle(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PicodetError(f"{path} is not a picodet run checkpoint", "pass the run folder of `picodet train`")
    if data.get("version") != VERSION:
        raise PicodetError(f"{path} has checkpoint version {data.get('version')}, expected {VERSION}")
    data["state"] = TrainState(**data["state"])
    return data


def save_weights(folder: Path, name: str, state_dict: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write `<folder>/<name>.pdparams` (plain state dict, loadable by paddle.load and the safe loader) + model.json."""
    path = folder / f"{name}.pdparams"
    save_pickle_atomic(path, {k: np.ascontiguousarray(v) for k, v in state_dict.items()})
    write_json_atomic(folder / "model.json", meta)
    return path
