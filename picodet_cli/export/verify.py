"""Check an exported artifact against the Paddle model it came from.

Two inputs (a fixed random tensor and the bundled astronaut photo); per output: shape, max abs and max
relative error against the Paddle (dygraph) outputs; then box-level agreement after decode + NMS. Box
agreement uses the top-100 boxes at score threshold 0.0, so it is meaningful for random-init models too
(their scores rarely pass the usual 0.025). Scores are rounded to a grid (1e-5, FP16 1e-3) before NMS, and
ties go to the lower anchor index: untrained heads give near-identical scores everywhere, and without the
grid, noise far below the tolerances would decide which of them survive. Trained heads have near-ties too
(a box at the top-100 cutoff, two overlapping anchors NMS must choose between): matched boxes must agree in
score within the format's tolerance, and a box whose fate such a near-tie decides is not counted (see
`box_agreement`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .formats import Format

ASSET = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"
MATCH_IOU = 0.9
SCORE_GRID = {False: 1e-5, True: 1e-3}  # by fp16
AGREEMENT_NMS = {"score_threshold": 0.0, "nms_threshold": 0.6, "nms_top_k": 1000, "keep_top_k": 100}


@dataclass
class Verification:
    """What verifying one artifact found; `failures` names every output that diverged."""

    ok: bool
    inputs: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    note: str = (
        "box agreement: top-100 boxes at score threshold 0.0 (scores rounded to 1e-5, FP16 1e-3, before NMS), "
        "matched by IoU >= 0.9, class and score (within 1e-3, FP16 1e-2); boxes a near-tie decides (within that "
        "tolerance of the cutoff, or suppressed by an overlapping same-class box scored as high) are not counted"
    )

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failures": self.failures, "inputs": self.inputs, "note": self.note}


def verification_inputs(input_size: int, postprocess: str) -> dict[str, dict[str, np.ndarray]]:
    """The fixed random input and the preprocessed astronaut image, as named graph inputs."""
    from ..data.transforms import preprocess, read_image

    random = np.random.default_rng(0).standard_normal((1, 3, input_size, input_size)).astype(np.float32)
    image, _, scale = preprocess(read_image(ASSET), input_size)
    feeds = {"random": {"image": random}, "image": {"image": image}}
    if postprocess == "nms":
        feeds["random"]["scale_factor"] = np.ones((1, 2), np.float32)
        feeds["image"]["scale_factor"] = scale
    return feeds


def reference_outputs(layer: Any, feeds: dict[str, dict[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """The Paddle (dygraph) outputs of the exported layer for each named feed."""
    import paddle

    layer.eval()
    with paddle.no_grad():
        return {
            key: [o.numpy() for o in layer(*(paddle.to_tensor(v) for v in feed.values()))]
            for key, feed in feeds.items()
        }


def detections(outputs: list[np.ndarray], meta: dict[str, Any], scale_factor: np.ndarray) -> np.ndarray:
    """Rows [class, score, x1, y1, x2, y2] from any postprocess mode's outputs (see AGREEMENT_NMS)."""
    from ..models.postprocess import multiclass_nms, postprocess_deploy

    mode, grid = meta["postprocess"], SCORE_GRID[bool(meta["fp16"])]
    if mode == "nms":
        return np.asarray(outputs[0], np.float32).reshape(-1, 6)
    if mode == "decode":
        sy, sx = scale_factor.reshape(-1)[:2]
        boxes = np.asarray(outputs[0], np.float32) / np.array([sx, sy, sx, sy], np.float32)
        return multiclass_nms(boxes, _round(outputs[1], grid), **AGREEMENT_NMS)[0]
    levels = len(outputs) // 2
    scores = [_round(s, grid) for s in outputs[:levels]]
    return postprocess_deploy(
        scores, outputs[levels:], tuple(meta["input_size"]), meta["strides"], meta["reg_max"], scale_factor,
        **AGREEMENT_NMS,
    )[0]  # fmt: skip


def _round(scores: np.ndarray, grid: float) -> np.ndarray:
    return (np.round(np.asarray(scores, np.float64) / grid) * grid).astype(np.float32)


def box_agreement(ref: np.ndarray, got: np.ndarray, iou: float = MATCH_IOU, ties: TieTolerance | None = None) -> float:
    """Matched boxes (same class, IoU >= `iou`, one-to-one) over the boxes that should match; 1.0 if none.

    Without `ties` every box should match (matched over the larger count). With `ties`, a match also needs
    the scores within `ties.score`, and an unmatched box is left out when a near-tie decided its fate: its
    score is within `ties.score` of the lowest score that could be kept (`ties.floor`, or the last score of a
    full top-k list), or the other side has a same-class box, scored at least as high (less `ties.score`),
    that overlaps it past the NMS IoU: NMS rightly suppressed it there, after a near-tie kept a neighbouring
    anchor (whose own miss, if its score really moved, still counts). Disagreements count as in the larger
    of the two lists.
    """
    if len(ref) == 0 and len(got) == 0:
        return 1.0
    tol = ties.score if ties else np.inf
    used, hit = np.zeros(len(got), bool), np.zeros(len(ref), bool)
    for i, row in enumerate(ref):
        candidates = (got[:, 0] == row[0]) & ~used & (np.abs(got[:, 1] - row[1]) <= tol)
        if candidates.any():
            ious = np.where(candidates, _iou(row[2:6], got[:, 2:6]), -1.0)
            best = int(np.argmax(ious))
            used[best] = hit[i] = ious[best] >= iou
    matched = int(hit.sum())
    missed_ref, missed_got = len(ref) - matched, len(got) - matched
    if ties:
        floor = max(ties.floor, *(_cutoff(rows, ties.keep) for rows in (ref, got)))
        missed_ref = sum(not ties.excuses(r, got, floor) for r in ref[~hit])
        missed_got = sum(not ties.excuses(g, ref, floor) for g in got[~used])
    denominator = matched + max(missed_ref, missed_got)
    return matched / denominator if denominator else 1.0


@dataclass(frozen=True)
class TieTolerance:
    """How far scores may move before box agreement counts a lost box (see `box_agreement`)."""

    score: float
    floor: float = AGREEMENT_NMS["score_threshold"]
    keep: int = AGREEMENT_NMS["keep_top_k"]
    nms_iou: float = AGREEMENT_NMS["nms_threshold"]

    def excuses(self, row: np.ndarray, other: np.ndarray, floor: float) -> bool:
        """Whether a near-tie explains why `row` has no match in `other`."""
        if row[1] <= floor + self.score:
            return True
        rivals = (other[:, 0] == row[0]) & (other[:, 1] >= row[1] - self.score)
        return bool(rivals.any() and (_iou(row[2:6], other[rivals, 2:6]) > self.nms_iou).any())


def _cutoff(rows: np.ndarray, keep: int) -> float:
    """The lowest score of a top-k list that is full (a box below it was cut by the count), else 0."""
    return float(rows[:, 1].min()) if len(rows) >= keep else 0.0


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(union, 1e-9)


def compare_outputs(
    fmt: Format, meta: dict[str, Any], ref: list[np.ndarray], got: list[np.ndarray]
) -> tuple[dict[str, Any], list[str]]:
    """Per output shape and error numbers, plus failure lines (numeric limits apply to FP32 only)."""
    names, fp16 = meta["outputs"], meta["fp16"]
    report, failures = {}, []
    if len(got) != len(ref):
        return report, [f"expected {len(ref)} outputs, got {len(got)}"]
    for name, r, g in zip(names, ref, got, strict=True):
        g = np.asarray(g, np.float32).reshape(g.shape if g.size != r.size else r.shape)
        entry: dict[str, Any] = {"shape": list(g.shape)}
        report[name] = entry
        if g.shape != r.shape:
            if meta["postprocess"] != "nms":
                failures.append(f"output {name}: shape {list(g.shape)} != Paddle's {list(r.shape)}")
            continue
        err = np.abs(g.astype(np.float64) - r)
        scale = float(np.abs(r).max()) if r.size else 0.0
        max_abs = float(err.max()) if err.size else 0.0
        entry.update(max_abs=max_abs, max_rel=max_abs / max(scale, 1e-12))
        if fp16 or meta["postprocess"] == "nms":
            continue  # FP16 and NMS outputs are judged by box agreement only
        is_score = name.startswith("scores")
        limit = fmt.score_atol if is_score else fmt.logit_rtol * max(scale, 1.0)
        entry["limit"] = limit
        if entry["max_abs"] > limit:
            failures.append(f"output {name} diverged: max abs error {entry['max_abs']:.3g} > {limit:.3g}")
    return report, failures


def agreement_ties(fmt: Format, meta: dict[str, Any]) -> TieTolerance:
    """The score tolerance of `fmt` (FP32 or FP16) and the threshold / top-k the detections were cut at."""
    from .heads import NMS_OPTIONS

    cut = NMS_OPTIONS if meta["postprocess"] == "nms" else AGREEMENT_NMS
    score = fmt.fp16_score_atol if meta["fp16"] else fmt.score_atol
    return TieTolerance(score, cut["score_threshold"], cut["keep_top_k"], cut["nms_threshold"])


def verify_artifact(
    fmt: Format,
    path: Path,
    meta: dict[str, Any],
    feeds: dict[str, dict[str, np.ndarray]],
    reference: dict[str, list[np.ndarray]],
    threads: int = 2,
) -> Verification:
    """Run `path` in its runtime on every feed and compare with `reference` (see module docstring)."""
    from ..runtimes.registry import runtime_class

    runtime = runtime_class(fmt.runtime)()
    runtime.require()
    runtime.load(path, threads=threads, fp16=meta["fp16"])
    need = fmt.fp16_box_agreement if meta["fp16"] else fmt.box_agreement
    ties = agreement_ties(fmt, meta)
    result = Verification(ok=True)
    for key, feed in feeds.items():
        result.inputs[key], failures = judge_input(
            fmt, meta, key, feed, reference[key], runtime.run(feed), need, ties=ties
        )
        result.failures += failures
    result.ok = not result.failures
    return result


def judge_input(
    fmt: Format,
    meta: dict[str, Any],
    key: str,
    feed: dict[str, np.ndarray],
    reference: list[np.ndarray],
    got: list[np.ndarray],
    need: float,
    *,
    iou: float = MATCH_IOU,
    ties: TieTolerance | None = None,
    extra_failures: Callable[[list[np.ndarray], list[np.ndarray], dict[str, Any]], list[str]] | None = None,
    record_iou: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """(report entry, failure lines) of outputs `got` against `reference` on the `key` input `feed`.

    The outputs are compared (`compare_outputs`); when that passes, `extra_failures(reference, got, report)`
    may add failures (and numbers to the per-output report); when nothing failed, the detections must agree
    (`box_agreement` with `iou` and `ties`) on at least `need` of the boxes. The entry records the box count,
    agreement and limit (and `iou` when `record_iou`); failure lines name the input.
    """
    report, failures = compare_outputs(fmt, meta, reference, got)
    if extra_failures is not None and not failures:
        failures = extra_failures(reference, got, report)
    entry: dict[str, Any] = {"outputs": report}
    if not failures:
        scale = feed.get("scale_factor", np.ones((1, 2), np.float32))
        ref_rows, got_rows = detections(reference, meta, scale), detections(got, meta, scale)
        agreement = box_agreement(ref_rows, got_rows, iou, ties)
        entry.update(boxes=len(ref_rows), agreement=agreement, agreement_limit=need)
        if record_iou:
            entry["iou"] = iou
        if agreement < need:
            failures.append(f"boxes diverged on the {key} input: {agreement:.1%} agree < {need:.1%}")
    return entry, [f"{f} ({key} input)" if "input" not in f else f for f in failures]
