"""Draw detections on an image: boxes, class names and scores."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-ratio hue steps)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_detections(image_bgr: np.ndarray, detections: Sequence[dict]) -> np.ndarray:
    """Return a copy of `image_bgr` with each detection's box and `name score` label drawn."""
    import cv2

    canvas = image_bgr.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    font_scale = max(0.4, min(height, width) / 800)
    for det in detections:
        x1, y1, x2, y2 = (round(v) for v in det["box"])
        color = class_color(det["class_id"])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        label = f"{det['name']} {det['score']:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(
            canvas, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    return canvas
