"""Draw detections on an image: boxes, then class-name and score labels placed so they do not cover each other."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

SAME_BOX_IOU = 0.9  # a lower-scored detection of another class on (almost) the same box is folded into its label

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-ratio hue steps)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def fold_duplicates(detections: Sequence[dict]) -> list[tuple[dict, int]]:
    """(detection, number of other-class detections folded into it), highest score first.

    A detection whose box overlaps a higher-scored one of another class by IoU >= SAME_BOX_IOU is the same object
    scored for a second class: it is not drawn again, its label would only sit on top of the first one.
    """
    kept: list[list] = []
    for det in sorted(detections, key=lambda d: -d["score"]):
        twin = next((k for k in kept if _iou(k[0]["box"], det["box"]) >= SAME_BOX_IOU), None)
        if twin is not None and twin[0]["class_id"] != det["class_id"]:
            twin[1] += 1
        else:
            kept.append([det, 0])
    return [(det, folded) for det, folded in kept]


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(box: Rect, size: tuple[int, int], image: tuple[int, int], taken: list[Rect]) -> Rect:
    """Where a label of `size` (w, h) goes for `box`: above it, inside its top, below it or inside its bottom,
    the first place inside the `image` (w, h) that no earlier label covers; else the first place in the image."""
    (x1, y1, _, y2), (w, h), (width, height) = box, size, image
    left = min(max(0, x1), max(0, width - w))
    candidates = [(left, y1 - h), (left, y1), (left, y2), (left, y2 - h)]
    inside = [(x, y, x + w, y + h) for x, y in candidates if y >= 0 and y + h <= height]
    for rect in inside:
        if not any(_overlaps(rect, other) for other in taken):
            return rect
    if inside:
        return inside[0]
    top = min(max(0, y1), max(0, height - h))
    return left, top, left + w, top + h


def draw_detections(image_bgr: np.ndarray, detections: Sequence[dict]) -> np.ndarray:
    """Return a copy of `image_bgr` with each detection's box and `name score` label drawn."""
    import cv2

    canvas = image_bgr.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    font_scale = max(0.4, min(height, width) / 800)
    shown = fold_duplicates(detections)
    boxes = [tuple(round(v) for v in det["box"]) for det, _ in shown]
    for (det, _), (x1, y1, x2, y2) in zip(shown, boxes, strict=True):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), class_color(det["class_id"]), thickness, cv2.LINE_AA)
    taken: list[Rect] = []
    for (det, folded), box in zip(shown, boxes, strict=True):
        label = f"{det['name']} {det['score']:.2f}" + (f" +{folded}" if folded else "")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        rect = place_label(box, (tw + 2, th + base + 2), (width, height), taken)
        taken.append(rect)
        cv2.rectangle(canvas, rect[:2], rect[2:], class_color(det["class_id"]), -1)
        origin = (rect[0] + 1, rect[1] + th + 1)
        cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
