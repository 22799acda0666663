"""Load a checkpoint's state dict (name -> array) into a PicoDet of any generation, with one clear report."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import paddle

from ..errors import CheckpointMismatch
from .generations import get_generation
from .head import CLS_BIAS_INIT, INIT_STD
from .registry import arch_for_state_dict

_CLS_LAYER = re.compile(r"head\.head_cls\d+\.(weight|bias)")
_SHOW = 5


@dataclass
class LoadReport:
    """What load_weights did: tensors loaded, skipped or re-initialised, and what did not match."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    reinitialized: list[str] = field(default_factory=list)
    checkpoint_classes: int | None = None
    model_classes: int | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        """Missing / unexpected / mis-shaped entries in one line, long lists cut to the first few."""
        parts = []
        if self.missing:
            parts.append(f"{_count(self.missing, 'missing key')}: {_cut(self.missing)}")
        if self.unexpected:
            parts.append(f"{_count(self.unexpected, 'unexpected key')}: {_cut(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{n} (checkpoint {list(c)}, model {list(m)})" for n, c, m in self.mismatched]
            parts.append(f"{_count(shapes, 'shape mismatch', 'es')}: {_cut(shapes)}")
        return "; ".join(parts)

    def summary(self) -> str:
        """One line for logs: counts, the class-count change if any, and the problems."""
        line = f"loaded {len(self.loaded)} tensors"
        if self.reinitialized:
            line += (
                f"; checkpoint has {self.checkpoint_classes} classes, model {self.model_classes}: re-initialised "
                f"the class outputs of {_cut(sorted({n.rsplit('.', 1)[0] for n in self.reinitialized}))}"
            )
        problems = self.problems()
        return f"{line}; {problems}" if problems else line


def _count(items: list[Any], noun: str, plural: str = "s") -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else plural}"


def _cut(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown if len(items) <= _SHOW else f"{shown}, ... and {len(items) - _SHOW} more"


def _class_change_rows(name: str, ckpt: tuple[int, ...], model: tuple[int, ...], num_classes: int) -> int | None:
    """For a head_cls layer that differs only in its output rows, the checkpoint's class count."""
    if not _CLS_LAYER.fullmatch(name) or ckpt[1:] != model[1:]:
        return None
    box_rows = model[0] - num_classes  # 4*(reg_max+1) when cls/reg share the conv, else 0
    classes = ckpt[0] - box_rows
    return classes if classes > 0 else None


def _reinit_class_rows(name: str, ckpt_value: np.ndarray, model_shape: tuple[int, ...], classes: int) -> np.ndarray:
    """Fresh class rows (spec init: weight N(0, 0.01), bias -log(99)), box rows kept from the checkpoint."""
    rows = model_shape[0] - (ckpt_value.shape[0] - classes)
    if name.endswith(".bias"):
        fresh = np.full([rows], CLS_BIAS_INIT, dtype=np.float32)
    else:
        fresh = paddle.normal(0.0, INIT_STD, [rows, *model_shape[1:]]).numpy()
    return np.concatenate([fresh, ckpt_value[classes:].astype(np.float32)])


def _mismatch_hint(report: LoadReport, model: Any, state_dict: Mapping[str, Any]) -> str:
    if report.checkpoint_classes is not None and not report.reinitialized:
        return (
            f"the checkpoint has {report.checkpoint_classes} classes: build the model with that many, "
            "or allow the class change to re-initialise the class outputs"
        )
    arch = arch_for_state_dict(state_dict, model.arch)
    if arch != model.arch:
        return f"the checkpoint matches architecture '{arch.name}': build the model from that one"
    return "check that the model/architecture name matches the checkpoint, or load with strict=False"


def load_weights(
    model: Any, state_dict: Mapping[str, Any], strict: bool = True, allow_class_change: bool = True
) -> LoadReport:
    """Copy `state_dict` (name -> array) into `model` and return a LoadReport.

    A checkpoint for another number of classes (only `head.head_cls{l}` rows differ) is accepted when
    `allow_class_change`: its class outputs are re-initialised, everything else (box outputs included) is
    loaded, and the report says so. Other differences raise CheckpointMismatch when `strict`; otherwise
    whatever fits is loaded. Entries the generation never reads may be absent, and its key aliases (newer
    upstream spellings of the same tensors) are accepted.
    """
    generation = get_generation(model.arch.generation)
    unused = re.compile(generation.unused_keys)
    state_dict = generation.canonical_keys(dict(state_dict))
    report = LoadReport(model_classes=model.num_classes)
    targets = model.state_dict()
    values: dict[str, np.ndarray] = {}
    for name, tensor in targets.items():
        if name not in state_dict:
            if not unused.fullmatch(name):
                report.missing.append(name)
            continue
        value = np.asarray(state_dict[name])
        model_shape, ckpt_shape = tuple(tensor.shape), tuple(value.shape)
        if ckpt_shape == model_shape:
            values[name] = value
            continue
        classes = _class_change_rows(name, ckpt_shape, model_shape, model.num_classes)
        if classes is not None:
            report.checkpoint_classes = classes
        if classes is not None and allow_class_change:
            values[name] = _reinit_class_rows(name, value, model_shape, classes)
            report.reinitialized.append(name)
        else:
            report.mismatched.append((name, ckpt_shape, model_shape))
    report.unexpected = [name for name in state_dict if name not in targets]
    if strict and not report.ok:
        raise CheckpointMismatch(
            f"checkpoint does not fit {model.arch.name} ({model.num_classes} classes): {report.problems()}",
            _mismatch_hint(report, model, state_dict),
        )
    for name, value in values.items():
        targets[name].set_value(paddle.to_tensor(value, dtype=targets[name].dtype))
        if name not in report.reinitialized:
            report.loaded.append(name)
    return report
