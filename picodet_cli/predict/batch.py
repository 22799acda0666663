"""Predict on a list of images: annotated copies plus one `predictions.json` (the schema `predict` and `demo` share).

predictions.json:
    {"model": str, "score_threshold": float,
     "predictions": [{"image", "width", "height", "output", "detections": [{"class_id", "name", "score", "box"}]}],
     "skipped": [{"image", "error"}]}
`box` is x1, y1, x2, y2 in original-image pixels; `output` is the annotated image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PicodetError

PREDICTIONS = "predictions.json"
DRAWN_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class PredictRun:
    """What one batch produced: per-image records, images that could not be read, and the JSON file."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    path: Path | None = None

    def to_dict(self, model: str, score_threshold: float) -> dict[str, Any]:
        return {
            "model": model,
            "score_threshold": score_threshold,
            "predictions": self.predictions,
            "skipped": self.skipped,
        }


def predict_images(
    detector: Any,
    images: list[Path],
    out: Path,
    model: str,
    on_skip: Callable[[Path, str], None] | None = None,
) -> PredictRun:
    """Detect, draw and save each image into `out`, then write `out/predictions.json`.

    Unreadable files are skipped (reported through `on_skip`); when none could be read, nothing is written and
    the error says so.
    """
    import cv2

    from ..data.transforms import read_image
    from ..io import write_bytes_atomic, write_json_atomic
    from .draw import draw_detections

    run = PredictRun()
    for path in images:
        try:
            bgr = read_image(path)
        except PicodetError as error:
            run.skipped.append({"image": str(path), "error": error.message})
            if on_skip is not None:
                on_skip(path, error.message)
            continue
        prediction = detector.predict(bgr)
        prediction.source = str(path)
        record = prediction.to_dict()
        suffix = path.suffix.lower() if path.suffix.lower() in DRAWN_SUFFIXES else ".jpg"
        ok, encoded = cv2.imencode(suffix, draw_detections(bgr, record["detections"]))
        if not ok:
            raise PicodetError(f"could not encode the annotated image for {path}")
        target = out / f"{path.stem}{suffix}"
        write_bytes_atomic(target, encoded.tobytes())
        run.predictions.append(record | {"output": str(target)})
    if not run.predictions:
        names = ", ".join(Path(s["image"]).name for s in run.skipped[:5])
        raise PicodetError(f"no image could be read ({names})", "give image files (jpg, png, bmp, webp, tif)")
    run.path = out / PREDICTIONS
    write_json_atomic(run.path, run.to_dict(model, detector.score_threshold))
    return run
