"""`results.png`: loss terms and mAP per epoch of a training run (from its metrics.jsonl)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .figure import figure

LOSSES = ("loss", "loss_vfl", "loss_bbox", "loss_dfl")


def read_epochs(metrics_jsonl: Path) -> tuple[dict[int, dict[str, float]], list[dict[str, float]]]:
    """Mean loss terms per epoch (1-based) and the evaluation records, from a run's metrics.jsonl."""
    sums: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[int, int] = defaultdict(int)
    evals = []
    for line in metrics_jsonl.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("eval"):
            evals.append(record)
        elif "loss" in record:
            epoch = int(record["epoch"]) + 1
            counts[epoch] += 1
            for key in LOSSES:
                sums[epoch][key] += float(record.get(key, 0.0))
    losses = {e: {k: v / counts[e] for k, v in terms.items()} for e, terms in sorted(sums.items())}
    return losses, evals


def training_curves(metrics_jsonl: Path, path: Path) -> Path | None:
    """Draw the loss terms and mAP / mAP50 against epochs into `path`; None when nothing was logged."""
    losses, evals = read_epochs(metrics_jsonl)
    if not losses and not evals:
        return None
    with figure(path, columns=2, size=(11, 4)) as (left, right):
        epochs = list(losses)
        for key in LOSSES:
            left.plot(epochs, [losses[e][key] for e in epochs], marker=".", label=key)
        left.set(title="training loss (mean per epoch)", xlabel="epoch", ylabel="loss")
        left.legend()
        left.grid(alpha=0.3)
        at = [r["epoch"] for r in evals]
        right.plot(at, [r["map"] for r in evals], marker="o", label="mAP 0.5:0.95")
        right.plot(at, [r["map50"] for r in evals], marker="o", label="mAP50")
        right.set(title="validation mAP (fraction)", xlabel="epoch", ylabel="mAP", ylim=(0, 1))
        right.legend()
        right.grid(alpha=0.3)
    return path
