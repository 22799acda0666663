"""Confusion matrix of detections against ground truth (COCO dicts), as detection tools report it.

Per image, detections at or above `score_threshold` are matched to ground-truth boxes of any class by IoU (greedy,
highest IoU first, one-to-one, IoU >= `iou_threshold`). Rows are the predicted class, columns the true class; the
last row counts missed ground truth (predicted `background`), the last column detections that match nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

CONFUSION_SCORE_THRESHOLD = 0.25


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` [N,4] with every box in `b` [M,4], boxes as x1, y1, x2, y2."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _xyxy(boxes: Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([array[:, :2], array[:, :2] + array[:, 2:]], axis=1)


def confusion_matrix(
    annotations: dict[str, Any],
    detections: Sequence[dict[str, Any]],
    iou_threshold: float = 0.5,
    score_threshold: float = CONFUSION_SCORE_THRESHOLD,
) -> tuple[list[str], np.ndarray]:
    """(class names, counts [K+1, K+1]) for a COCO dataset dict and COCO result dicts (crowd GT ignored)."""
    categories = sorted(annotations["categories"], key=lambda c: c["id"])
    column = {c["id"]: i for i, c in enumerate(categories)}
    background = len(categories)
    matrix = np.zeros((background + 1, background + 1), np.int64)
    truth: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in annotations["annotations"]:
        if not ann.get("iscrowd", 0):
            truth[ann["image_id"]].append(ann)
    found: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for det in detections:
        if det["score"] >= score_threshold:
            found[det["image_id"]].append(det)
    for image_id in {img["id"] for img in annotations["images"]}:
        gts, dts = truth.get(image_id, []), found.get(image_id, [])
        gt_cls = [column[g["category_id"]] for g in gts]
        dt_cls = [column[d["category_id"]] for d in dts]
        matched_gt, matched_dt = set(), set()
        if gts and dts:
            iou = box_iou(_xyxy([d["bbox"] for d in dts]), _xyxy([g["bbox"] for g in gts]))
            pairs = np.argwhere(iou >= iou_threshold)
            for d, g in sorted(pairs.tolist(), key=lambda p: -iou[p[0], p[1]]):
                if d not in matched_dt and g not in matched_gt:
                    matched_dt.add(d)
                    matched_gt.add(g)
                    matrix[dt_cls[d], gt_cls[g]] += 1
        for g, cls in enumerate(gt_cls):
            if g not in matched_gt:
                matrix[background, cls] += 1
        for d, cls in enumerate(dt_cls):
            if d not in matched_dt:
                matrix[cls, background] += 1
    return [c["name"] for c in categories], matrix
