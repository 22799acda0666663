"""Helpers for the v2 tests: a golden folder's model, weights and arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from picodet_cli.hub.safe_load import load_state_dict
from picodet_cli.models.loading import load_weights
from picodet_cli.models.registry import build_model

LEVELS = 4


def meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "meta.json").read_text())


def model_for(folder: Path, weights: str | None = None) -> Any:
    """The zoo network a golden folder was made with (meta.json's model, e.g. picodet_v2_s_320), loaded."""
    info = meta(folder)
    model = build_model(info["model"], input_size=info["input_size"])
    if weights is not None:
        report = load_weights(model, load_state_dict(folder / weights))
        assert report.ok and not report.reinitialized, report.summary()
    return model


def arrays(folder: Path, name: str) -> dict[str, np.ndarray]:
    return dict(np.load(folder / name))


def per_level(ref: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [ref[f"{prefix}{i}"] for i in range(LEVELS)]


def match_rows(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Pair NMS rows [K, 6] one to one (same class, nearest row) and return the largest score and coordinate
    differences. Rows are not compared in output order: near-equal scores may swap places within a class."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    free = np.ones(len(got), bool)
    score_diff = coord_diff = 0.0
    for row in ref:
        candidates = np.flatnonzero(free & (got[:, 0] == row[0]))
        assert candidates.size, f"no detection of class {row[0]:.0f} left to pair with {row}"
        distance = np.abs(got[candidates, 1:] - row[1:]).max(axis=1)
        best = candidates[distance.argmin()]
        free[best] = False
        score_diff = max(score_diff, abs(float(got[best, 1] - row[1])))
        coord_diff = max(coord_diff, float(np.abs(got[best, 2:] - row[2:]).max()))
    return score_diff, coord_diff
