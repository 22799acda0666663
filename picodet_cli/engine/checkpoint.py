"""Run folders and run checkpoints: everything needed to resume, written atomically, read back with the safe
unpickler; a run folder is claimed (marked) before anything is written into it.

A run folder holds:
  .picodet-run             marker: this folder is a picodet run of this recipe (`claim_run_dir`)
  checkpoints/last.ckpt    model, EMA, optimizer, epoch/step, best metric, RNG states, recipe (resume point)
  weights/last.pdparams    EMA weights as a plain state dict (what eval, predict and export load)
  weights/best.pdparams    EMA weights of the best evaluation so far
  weights/model.json       architecture, classes and input size of those weights
"""

from __future__ import annotations

import errno
import json
import pickle
import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from ..io import atomic_write, write_json_atomic

FORMAT = "picodet-run-checkpoint"
VERSION = 1
RUN_MARKER = ".picodet-run"
_EARLIER_RUN_FILES = ("run.json", "run_state.json", "checkpoints/last.ckpt")  # runs from before the marker
_EXIST_OK_HINT = "choose another output folder (--set output.dir=...), or pass --exist-ok to write into it anyway"


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
    """Pickle `obj` to `path` by temp + rename; a full disk is one error line and leaves the previous file."""
    try:
        with atomic_write(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=4)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise PicodetError(
            f"no space left to write {path} ({exc.strerror}); the previous file is kept",
            "free some disk space, then continue with --resume",
        ) from None


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
    """Read a resume checkpoint, checking its structure so that a broken or hostile file is one error line."""
    from ..hub.safe_load import safe_unpickle

    if not path.is_file():
        raise PicodetError(f"no checkpoint at {path}", "start a run with `picodet train --recipe FILE` first")
    data = safe_unpickle(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PicodetError(f"{path} is not a picodet run checkpoint", "pass the run folder of `picodet train`")
    if data.get("version") != VERSION:
        raise PicodetError(f"{path} has checkpoint version {data.get('version')}, expected {VERSION}")
    damaged = PicodetError(
        f"{path} is a damaged run checkpoint", "start the run again, or restore the run folder from a backup"
    )
    for key in ("model", "optimizer", "state", "meta", "rng"):
        if not isinstance(data.get(key), dict):
            raise damaged
    if data.get("ema") is not None and not isinstance(data["ema"], dict):
        raise damaged
    if not all(isinstance(v, np.ndarray) for v in data["model"].values()):
        raise damaged
    names = {f.name for f in fields(TrainState)}
    if not set(data["state"]) <= names:
        raise damaged
    try:
        data["state"] = TrainState(**data["state"])
        random.Random().setstate(data["rng"]["python"])
        np.random.RandomState().set_state(data["rng"]["numpy"])
    except (KeyError, TypeError, ValueError):
        raise damaged from None
    return data


def claim_run_dir(run_dir: Path, recipe_path: Path, *, exist_ok: bool = False, write: bool = True) -> None:
    """Make `run_dir` a picodet run of the recipe at `recipe_path`, or refuse with a hint.

    A missing or empty folder (the recipe file aside), or one marked as a run of this recipe (by `.picodet-run`,
    or as a run folder written before the marker), is claimed: the marker is written unless `write` is False.
    A folder holding anything else, or another recipe's run, is refused unless `exist_ok`.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise PicodetError(f"{run_dir} is a file, not a folder", "choose another output folder (--set output.dir=...)")
    recipe = str(Path(recipe_path).resolve())
    owner = _run_owner(run_dir)
    if not exist_ok:
        held = sorted(p.name for p in run_dir.iterdir() if str(p.resolve()) != recipe) if run_dir.exists() else []
        if owner is None and held:  # the recipe itself may live there (`train --data data.yaml` writes it so)
            message = f"{run_dir} exists and is not a picodet run folder (it holds {held[0]}, …)"
            raise PicodetError(message, _EXIST_OK_HINT)
        if owner not in (None, "", recipe):
            raise PicodetError(f"{run_dir} holds a run of another recipe ({owner})", _EXIST_OK_HINT)
    if write and owner != recipe:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_json_atomic(run_dir / RUN_MARKER, {"format": "picodet-run", "recipe": recipe, "created_at": created})


def _run_owner(run_dir: Path) -> str | None:
    """The recipe a run folder belongs to; "" for a picodet run of unknown recipe; None when it is no run."""
    for name in (RUN_MARKER, "run.json"):
        try:
            info = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("recipe"), str):
            return str(Path(info["recipe"]).resolve())
    return "" if any((run_dir / name).exists() for name in _EARLIER_RUN_FILES) else None


def save_weights(folder: Path, name: str, state_dict: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write `<folder>/<name>.pdparams` (plain state dict, loadable by paddle.load and the safe loader) + model.json."""
    path = folder / f"{name}.pdparams"
    save_pickle_atomic(path, {k: np.ascontiguousarray(v) for k, v in state_dict.items()})
    write_json_atomic(folder / "model.json", meta)
    return path
