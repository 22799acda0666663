"""Run a detector over a dataset and score it with the COCO evaluator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .coco_metrics import EvalResult, evaluate_coco, to_coco_results

# A batch function: (images [B,3,H,W], im_shape [B,2], scale_factor [B,2]) -> (bbox [M,6], bbox_num [B])
DetectFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def paddle_detect_fn(model: Any, **nms_options: float) -> DetectFn:
    """Batch detection with a Paddle PicoDet in eval mode."""
    import paddle

    model.eval()

    def detect(images: np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with paddle.no_grad():
            return model.detect(paddle.to_tensor(images), im_shape, scale_factor, **nms_options)

    return detect


def collect_detections(
    detect: DetectFn, index: Any, input_size: int, batch_size: int = 8, workers: int = 0, progress: Any = None
) -> list[dict[str, Any]]:
    """COCO result dicts for every image of `index` (a DatasetIndex)."""
    from ..data.loader import make_eval_loader

    results: list[dict[str, Any]] = []
    for batch in make_eval_loader(index, input_size, batch_size, workers):
        bbox, bbox_num = detect(batch["image"], batch["im_shape"], batch["scale_factor"])
        start = 0
        for image_id, count in zip(batch["image_ids"], np.asarray(bbox_num).tolist(), strict=True):
            results.extend(to_coco_results(image_id, bbox[start : start + count], index.category_ids))
            start += count
        if progress is not None:
            progress(len(batch["image_ids"]))
    return results


def evaluate_detector(
    detect: DetectFn,
    index: Any,
    input_size: int,
    batch_size: int = 8,
    workers: int = 0,
    per_class: bool = False,
    progress: Any = None,
    curves: bool = False,
) -> tuple[EvalResult, list[dict[str, Any]]]:
    """COCO mAP of `detect` on `index`, with the detections it produced (`curves`: PR curves per class too)."""
    detections = collect_detections(detect, index, input_size, batch_size, workers, progress)
    return evaluate_coco(index.to_coco_gt(), detections, per_class=per_class, curves=curves), detections
