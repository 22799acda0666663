"""`PR_curve.png` (precision against recall per class, IoU 0.5) and `confusion_matrix.png`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .figure import figure

LEGEND_CLASSES = 20  # more classes: their curves are drawn without a legend entry each


def pr_curves_plot(curves: dict[str, list[float]], recall: list[float], path: Path) -> Path:
    """One precision-recall line per class (legend: class and AP50, up to LEGEND_CLASSES), and their mean."""
    with figure(path, size=(7, 5.5)) as ax:
        valid = {name: np.asarray(p) for name, p in curves.items() if min(p, default=-1) > -1}
        named = len(valid) <= LEGEND_CLASSES
        for name, precision in valid.items():
            ax.plot(recall, precision, linewidth=1, label=f"{name} {precision.mean():.3f}" if named else None)
        if valid:
            mean = np.mean(list(valid.values()), axis=0)
            ax.plot(recall, mean, linewidth=3, color="blue", label=f"all classes {mean.mean():.3f} mAP50")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title="precision-recall (IoU 0.5)")
        ax.legend(loc="lower left", fontsize="small")
        ax.grid(alpha=0.3)
    return path


def confusion_matrix_plot(names: list[str], matrix: np.ndarray, path: Path) -> Path:
    """Counts of predicted (rows) against true (columns) class, `background` last, normalised per column."""
    labels = [*names, "background"]
    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)
    side = min(14.0, max(5.0, 0.45 * len(labels) + 3))
    small = {"fontsize": "x-small"} if len(labels) > 20 else {}
    with figure(path, size=(side + 1, side)) as ax:
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
        ticks = range(len(labels))
        ax.set_xticks(ticks, labels, rotation=90 if len(labels) > 8 else 45, ha="right", **small)
        ax.set_yticks(ticks, labels, **small)
        if len(labels) <= 30:
            for (i, j), value in np.ndenumerate(counts):
                if value:
                    color = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize="small", color=color)
        ax.set(xlabel="true", ylabel="predicted", title="confusion matrix (IoU 0.5)")
    return path


def eval_plots(
    result: Any, annotations: dict[str, Any], detections: list[dict[str, Any]], out: Path
) -> dict[str, Path]:
    """`PR_curve.png` (from `result.pr_curves`) and `confusion_matrix.png` in `out`; their paths by name."""
    from ..engine.coco_metrics import RECALL_POINTS
    from ..engine.confusion import confusion_matrix

    written = {}
    if result.pr_curves:
        written["pr_curve"] = pr_curves_plot(result.pr_curves, RECALL_POINTS, out / "PR_curve.png")
    names, matrix = confusion_matrix(annotations, detections)
    written["confusion_matrix"] = confusion_matrix_plot(names, matrix, out / "confusion_matrix.png")
    return written
