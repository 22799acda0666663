"""Charts as PNG files: training curves, precision-recall curves, confusion matrix, bench latency and mAP.

matplotlib is imported inside each function (the Agg backend, no display needed); every file is written
atomically. The numbers come from the engine (metrics.jsonl, `engine.confusion`, COCO eval) and bench reports.
"""

from __future__ import annotations

from .bench import bench_chart
from .evaluation import confusion_matrix_plot, eval_plots, pr_curves_plot
from .training import training_curves

__all__ = ["bench_chart", "confusion_matrix_plot", "eval_plots", "pr_curves_plot", "training_curves"]
