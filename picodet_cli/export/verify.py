"""The one verifier: an exported artifact (FP32, FP16 or INT8) run in its runtime and compared with a reference.

Inputs: a fixed random tensor and the bundled astronaut photo (plus, for INT8, the calibration image the
quantize run kept). Per output: shape, finiteness, max abs and max relative error against the reference (the
Paddle model's outputs, or for INT8 the FP32 model's); then box-level agreement after decode + NMS. The limits
are per precision (`formats.PRECISIONS`): FP32 judges every value and the boxes, FP16 the boxes only, INT8 fails
only a clearly broken model, emulated FP16 kernels are judged by mean errors. Box agreement uses the top-100
boxes at score threshold 0.0, so it is meaningful for random-init models too (their scores rarely pass the
usual 0.025). Scores are rounded to the precision's grid before NMS, and ties go to the lower anchor index:
untrained heads give near-identical scores everywhere, and without the grid, noise far below the tolerances
would decide which of them survive. Trained heads have near-ties too (a box at the top-100 cutoff, two
overlapping anchors NMS must choose between): with a tie tolerance, matched boxes must agree in score within
it, and a box whose fate such a near-tie decides is not counted (see `box_agreement`). Runtimes are opened only
through `runtimes.registry.open_runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import NMS_OPTIONS
from .formats import PRECISIONS, Limits

ASSET = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"
AGREEMENT_NMS = {**NMS_OPTIONS, "score_threshold": 0.0}


@dataclass
class Verification:
    """What verifying one artifact found; `failures` names every output that diverged."""

    ok: bool
    precision: str = "fp32"
    inputs: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        """How the artifact was judged, in words."""
        limits = PRECISIONS[self.precision]
        note = (
            f"{self.precision}: top-100 boxes at score threshold 0.0 (scores rounded to {limits.score_grid:g} before "
            f"NMS) matched by IoU >= {limits.match_iou} and class"
        )
        if limits.tie_score is not None:
            note += (
                f" and score (within {limits.tie_score:g}); boxes a near-tie decides (within that tolerance of the "
                "cutoff, or suppressed by an overlapping same-class box scored as high) are not counted"
            )
        if limits.mean_score_atol is not None:
            note += "; outputs judged statistically (mean errors)"
        if not limits.boxes_on_noise:
            note += "; only a clearly broken model fails"
        return note

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "precision": self.precision, "failures": self.failures, "inputs": self.inputs,
            "note": self.note,
        }  # fmt: skip


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


def detections(outputs: list[np.ndarray], meta: dict[str, Any], scale_factor: np.ndarray, grid: float) -> np.ndarray:
    """Rows [class, score, x1, y1, x2, y2] from any postprocess mode's outputs (see AGREEMENT_NMS)."""
    from ..models.postprocess import multiclass_nms, postprocess_deploy

    mode = meta["postprocess"]
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


def box_agreement(ref: np.ndarray, got: np.ndarray, iou: float = 0.9, ties: TieTolerance | None = None) -> float:
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


def judge(
    precision: str,
    meta: dict[str, Any],
    feeds: dict[str, dict[str, np.ndarray]],
    reference: dict[str, list[np.ndarray]],
    outputs: dict[str, list[np.ndarray]],
    judged: tuple[str, ...] | None = None,
) -> Verification:
    """Outputs {feed: [arrays]} against `reference` at `precision`; inputs outside `judged` (None: all) are
    reported, never failed."""
    limits = PRECISIONS[precision]
    result = Verification(ok=True, precision=precision)
    for key, feed in feeds.items():
        counts = judged is None or key in judged
        entry, failures = _judge_input(limits, meta, key, feed, reference[key], outputs[key], counts)
        result.inputs[key] = entry if counts else entry | {"judged": False}
        result.failures += failures if counts else []
    result.ok = not result.failures
    return result


def _judge_input(
    limits: Limits,
    meta: dict[str, Any],
    key: str,
    feed: dict[str, np.ndarray],
    reference: list[np.ndarray],
    got: list[np.ndarray],
    counts: bool,
) -> tuple[dict[str, Any], list[str]]:
    """(report entry, failure lines naming the input) of one input's outputs."""
    if len(got) != len(reference):
        return {}, [f"expected {len(reference)} outputs, got {len(got)} ({key} input)"]
    nms = meta["postprocess"] == "nms"
    names = meta.get("outputs") or [f"output_{i}" for i in range(len(reference))]
    report: dict[str, Any] = {}
    failures: list[str] = []
    comparable, scores = True, []
    for name, ref, out in zip(names, reference, got, strict=True):
        out = np.asarray(out, np.float32)
        out = out.reshape(ref.shape) if out.size == ref.size else out
        entry: dict[str, Any] = report.setdefault(name, {"shape": list(out.shape)})
        if out.shape != ref.shape:
            if not nms:
                failures.append(f"output {name}: shape {list(out.shape)} != the reference's {list(ref.shape)}")
                comparable = False
            continue
        if not np.isfinite(out).all():
            failures.append(f"output {name} is not finite")
            comparable = False
            continue
        failures += _output_failures(limits, name, ref, out, entry, nms)
        if name.startswith("scores"):
            scores.append(entry["max_abs"])
    entry = {"outputs": report}
    if scores:
        entry["max_score_error"] = max(scores)
    if comparable:
        scale = feed.get("scale_factor", np.ones((1, 2), np.float32))
        ref_rows = detections(reference, meta, scale, limits.score_grid)
        got_rows = detections(got, meta, scale, limits.score_grid)
        agreement = box_agreement(ref_rows, got_rows, limits.match_iou, _ties(limits, meta))
        entry.update(boxes=len(ref_rows), agreement=agreement, agreement_limit=limits.box_agreement)
        entry["iou"] = limits.match_iou
        if agreement < limits.box_agreement and (key != "random" or limits.boxes_on_noise):
            failures.append(f"boxes diverged on the {key} input: {agreement:.1%} agree < {limits.box_agreement:.1%}")
    return entry, [f if "input" in f else f"{f} ({key} input)" for f in failures] if counts else []


def _output_failures(
    limits: Limits, name: str, ref: np.ndarray, out: np.ndarray, entry: dict[str, Any], nms: bool
) -> list[str]:
    """Error numbers of one output (recorded in `entry`) and its failure lines at these limits."""
    err = np.abs(out.astype(np.float64) - ref)
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    max_abs = float(err.max()) if err.size else 0.0
    entry.update(max_abs=max_abs, max_rel=max_abs / max(scale, 1e-12))
    if nms:
        return []  # NMS outputs are judged by box agreement only
    failures = []
    is_score = name.startswith("scores")
    limit = limits.score_atol if is_score else limits.logit_rtol
    if limit is not None:
        entry["limit"] = limit if is_score else limit * max(scale, 1.0)
        if max_abs > entry["limit"]:
            what = "scores off by" if is_score else "max abs error"
            failures.append(f"output {name} diverged: {what} {max_abs:.3g} > {entry['limit']:.3g}")
    mean_limit = limits.mean_score_atol if is_score else limits.mean_logit_rtol
    if mean_limit is not None and err.size:
        mean = float(err.mean()) if is_score else float(err.mean() / max(scale, 1.0))
        entry.update(mean_error=mean, mean_limit=mean_limit)
        if mean > mean_limit:
            failures.append(f"output {name} diverged: mean error {mean:.3g} > {mean_limit:.3g}")
    return failures


def _ties(limits: Limits, meta: dict[str, Any]) -> TieTolerance | None:
    """The near-tie rules at these limits: the score tolerance and the threshold / top-k the detections were cut at."""

    if limits.tie_score is None:
        return None
    cut = NMS_OPTIONS if meta["postprocess"] == "nms" else AGREEMENT_NMS
    return TieTolerance(limits.tie_score, cut["score_threshold"], cut["keep_top_k"], cut["nms_threshold"])


def verify_artifact(
    artifact: Any,
    meta: dict[str, Any],
    feeds: dict[str, dict[str, np.ndarray]],
    reference: dict[str, list[np.ndarray]],
    precision: str,
    *,
    threads: int = 2,
    judged: tuple[str, ...] | None = None,
) -> Verification:
    """Run `artifact` (a `runtimes.registry.Artifact`) on every feed and judge it against `reference`."""
    from ..runtimes.registry import open_runtime

    runtime = open_runtime(artifact, threads=threads, fp16=bool(meta.get("fp16")))
    outputs = {key: runtime.run(feed) for key, feed in feeds.items()}
    return judge(precision, meta, feeds, reference, outputs, judged)
