"""Charts as PNG files from real numbers: training curves, PR curves, confusion matrix, bench chart."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from picodet_cli.plots import bench_chart, confusion_matrix_plot, pr_curves_plot, training_curves
from picodet_cli.plots.training import read_epochs


def _png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 200
    return image


def test_training_curves_average_losses_per_epoch(tmp_path: Path):
    lines = [{"epoch": e, "step": s, "loss": 4 - e - s / 10, "loss_vfl": 1, "loss_bbox": 1, "loss_dfl": 1, "lr": 0.1}
             for e in range(3) for s in range(2)]  # fmt: skip
    lines += [{"eval": True, "epoch": 2, "step": 4, "map": 0.2, "map50": 0.5}]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    losses, evals = read_epochs(metrics)
    assert list(losses) == [1, 2, 3] and losses[1]["loss"] == (4.0 + 3.9) / 2
    assert evals == [lines[-1]]
    _png(training_curves(metrics, tmp_path / "results.png"))
    (tmp_path / "empty.jsonl").write_text("")
    assert training_curves(tmp_path / "empty.jsonl", tmp_path / "none.png") is None


def test_pr_and_confusion_plots(tmp_path: Path):
    recall = [i / 100 for i in range(101)]
    curves = {"circle": [1.0] * 60 + [0.0] * 41, "square": [-1.0] * 101}
    _png(pr_curves_plot(curves, recall, tmp_path / "PR_curve.png"))
    _png(confusion_matrix_plot(["circle", "square"], np.array([[5, 1, 2], [0, 3, 0], [1, 0, 0]]), tmp_path / "cm.png"))


def test_bench_chart_skips_rows_without_latency(tmp_path: Path):
    rows = [
        {"format": "onnx", "status": "ok", "latency": {"p50": 6.0, "p90": 7.0, "min": 5.0}, "map50": 0.9},
        {"format": "ncnn", "status": "ok", "latency": {"p50": 8.0, "p90": 9.5, "min": 7.0}, "map50": None},
        {"format": "lite", "status": "missing", "latency": None},
    ]
    _png(bench_chart(rows, tmp_path / "bench.png"))
    assert bench_chart(rows[2:], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_bench_chart_keeps_int8_rows_beside_fp32():
    from picodet_cli.plots.bench import bar_label

    rows = [{"format": "onnx", "precision": "fp32"}, {"format": "onnx", "precision": "int8"}, {"format": "mnn"}]
    assert [bar_label(r) for r in rows] == ["onnx", "onnx int8", "mnn"]
