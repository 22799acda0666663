"""COCO bbox evaluation with faster-coco-eval (default) or pycocotools, quietly.

Both backends give the same 12 standard numbers; their progress prints are swallowed and the
summary table is returned as text instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from picodet_cli.errors import PicodetError

STAT_NAMES = (
    "map", "map50", "map75", "map_small", "map_medium", "map_large",
    "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip

REQUIRED_KEYS = {
    "images": ("id",),
    "annotations": ("id", "image_id", "category_id", "bbox", "area"),
    "categories": ("id", "name"),
}


@dataclass(frozen=True)
class EvalResult:
    """The 12 COCO stats (−1 where a range has no ground truth), in `STAT_NAMES` order in `stats`."""

    map: float
    map50: float
    map75: float
    map_small: float
    map_medium: float
    map_large: float
    ar1: float
    ar10: float
    ar100: float
    ar_small: float
    ar_medium: float
    ar_large: float
    stats: list[float]
    summary_text: str
    num_images: int
    num_detections: int
    per_class: dict[str, float] | None = None
    pr_curves: dict[str, list[float]] | None = None  # precision at RECALL_POINTS per class (IoU 0.5), −1: no GT


RECALL_POINTS = [i / 100 for i in range(101)]  # COCOeval's recall thresholds


def to_coco_results(image_id: int, bbox: np.ndarray, category_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Rows `[class_idx, score, x1, y1, x2, y2]` of one image → COCO result dicts (bbox as x, y, w, h)."""
    rows = np.asarray(bbox, np.float64).reshape(-1, 6)
    classes = rows[:, 0].astype(np.int64)
    if classes.size and (classes.min() < 0 or classes.max() >= len(category_ids)):
        raise PicodetError(
            f"class index {int(classes.max())} has no category id ({len(category_ids)} category ids given)",
            "pass one COCO category id per model class",
        )
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_ids[c]),
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": score,
        }
        for c, (score, x1, y1, x2, y2) in zip(classes.tolist(), rows[:, 1:].tolist(), strict=True)
    ]


def evaluate_coco(
    annotations: str | os.PathLike[str] | dict[str, Any],
    detections: str | os.PathLike[str] | Sequence[dict[str, Any]],
    per_class: bool = False,
    use_fast: bool = True,
    curves: bool = False,
) -> EvalResult:
    """Evaluate COCO-format `detections` (a results json or list of dicts) against `annotations`.

    `per_class` adds AP per class, `curves` the precision-recall curve per class at IoU 0.5.
    """
    dataset = _load_annotations(annotations)
    results = _load_detections(detections, dataset)
    if use_fast:
        from faster_coco_eval import COCO, COCOeval_faster

        def make_eval(gt: Any, dt: Any) -> Any:
            return COCOeval_faster(gt, dt, iouType="bbox", print_function=print)
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        def make_eval(gt: Any, dt: Any) -> Any:
            return COCOeval(gt, dt, iouType="bbox")

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results) if results else _empty_results(COCO, dataset)
        evaluator = make_eval(gt, dt)
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    stats = [float(v) for v in evaluator.stats[: len(STAT_NAMES)]]
    return EvalResult(
        **dict(zip(STAT_NAMES, stats, strict=True)),
        stats=stats,
        summary_text=summary.getvalue(),
        num_images=len(evaluator.params.imgIds),
        num_detections=len(results),
        per_class=_per_class_ap(evaluator, gt) if per_class else None,
        pr_curves=_pr_curves(evaluator, gt) if curves else None,
    )


def _read_json(source: str | os.PathLike[str], what: str, hint: str) -> Any:
    try:
        with open(source, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise PicodetError(f"{what} file not found: {source}", hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PicodetError(f"cannot read {what} file {source}: {exc}", hint) from None


def _load_annotations(source: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """A COCO instances dataset as a fresh dict (the evaluators annotate GT dicts in place)."""
    hint = "give a COCO instances json (with images, annotations and categories)"
    data = source if isinstance(source, dict) else _read_json(source, "annotation", hint)
    name = "annotations" if isinstance(source, dict) else str(Path(source))
    missing = [k for k in REQUIRED_KEYS if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise PicodetError(f"{name} is not a COCO instances file (missing {', '.join(missing)})", hint)
    for section, keys in REQUIRED_KEYS.items():
        for entry in data[section]:
            if not isinstance(entry, dict) or any(k not in entry for k in keys):
                raise PicodetError(
                    f"{name}: an entry of {section} lacks one of {', '.join(keys)}: {entry!r:.120}", hint
                )
    return {**data, "annotations": [dict(a) for a in data["annotations"]]}


def _load_detections(
    source: str | os.PathLike[str] | Sequence[dict[str, Any]], dataset: dict[str, Any]
) -> list[dict[str, Any]]:
    """Validated copies of COCO result dicts: known image and category ids, 4-number bbox, score."""
    hint = "give a COCO results json: a list of {image_id, category_id, bbox: [x, y, w, h], score}"
    data = _read_json(source, "detections", hint) if isinstance(source, str | os.PathLike) else source
    if not isinstance(data, list | tuple):
        raise PicodetError("detections are not a list of COCO results", hint)
    image_ids = {img["id"] for img in dataset["images"]}
    category_ids = {cat["id"] for cat in dataset["categories"]}
    results = []
    for i, det in enumerate(data):
        result = _coerce_result(det)
        if result is None:
            raise PicodetError(f"detection {i} is not a COCO bbox result: {det!r:.120}", hint)
        if result["image_id"] not in image_ids:
            raise PicodetError(
                f"detection {i} refers to image id {result['image_id']}, which is not in the annotations",
                "evaluate against the annotation file the detections were made for",
            )
        if result["category_id"] not in category_ids:
            raise PicodetError(
                f"detection {i} has category id {result['category_id']}, which is not in the annotations",
                "map model class indices to the dataset's category ids (see to_coco_results)",
            )
        results.append(result)
    return results


def _coerce_result(det: Any) -> dict[str, Any] | None:
    """A fresh result dict with plain numbers, or None when `det` is not a bbox result."""
    try:
        bbox = [float(v) for v in det["bbox"]]
        score = float(det["score"])
        image_id, category_id = det["image_id"], det["category_id"]
    except (KeyError, TypeError, ValueError):
        return None
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score} if len(bbox) == 4 else None


def _empty_results(coco_cls: type, dataset: dict[str, Any]) -> Any:
    """A result set with no detections (pycocotools' loadRes cannot take an empty list)."""
    dt = coco_cls()
    dt.dataset = {"images": dataset["images"], "categories": dataset["categories"], "annotations": []}
    dt.createIndex()
    return dt


def _per_class_ap(evaluator: Any, gt: Any) -> dict[str, float]:
    """AP@[.5:.95] per category name (area all, 100 detections); −1 for categories without ground truth."""
    precision = np.asarray(evaluator.eval["precision"])[:, :, :, 0, -1]
    aps = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k]
        values = values[values > -1]
        aps[gt.cats[cat_id]["name"]] = float(values.mean()) if values.size else -1.0
    return aps


def _pr_curves(evaluator: Any, gt: Any) -> dict[str, list[float]]:
    """Precision at each of COCOeval's 101 recall points per category name (IoU 0.5, area all, 100 detections)."""
    precision = np.asarray(evaluator.eval["precision"])[0, :, :, 0, -1]
    return {gt.cats[cat_id]["name"]: precision[:, k].tolist() for k, cat_id in enumerate(evaluator.params.catIds)}
