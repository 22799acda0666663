"""`picodet run`: every stage a recipe declares (train, eval, quantize, export, bench), skipping what is done.

A stage is skipped when it finished before with the same fingerprint: the sha256 of its recipe sections, the
weights it consumes and the fingerprints of the stages whose outputs it reads (bench re-runs after export did).
The record lives in `<output.dir>/run_state.json`, so re-running after an interruption continues where it
stopped (training itself resumes from its last checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PicodetError
from ..io import sha256_file, write_json_atomic

STAGES = ("train", "eval", "quantize", "export", "bench")
STAGE_SECTIONS = {
    "train": ("model", "weights", "data", "train", "augment"),
    "eval": ("data", "eval"),
    "quantize": ("data", "quantize"),
    "export": ("export",),
    "bench": ("bench", "data"),
}
STAGE_READS = {"bench": ("quantize", "export")}  # stages whose output folders a stage reads


@dataclass
class StageOutcome:
    name: str
    status: str  # done | skipped | failed
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunContext:
    """What stages hand each other: the recipe, the weights in use, the export folder."""

    recipe: Any
    overrides: list[str]
    weights: Path | None
    reporter: Any = None
    say: Callable[[str], None] = print
    export_dir: Path | None = None


def select_stages(declared: list[str], only: list[str] | None) -> list[str]:
    if not only:
        return list(declared)
    unknown = [s for s in only if s not in STAGES]
    if unknown:
        raise PicodetError(f"--only: unknown stage(s) {', '.join(unknown)}", f"stages: {', '.join(STAGES)}")
    return [s for s in STAGES if s in only]


def fingerprint(recipe: Any, stage: str, weights: Path | None, state: dict[str, Any]) -> str:
    digest = hashlib.sha256(recipe.fingerprint(*STAGE_SECTIONS[stage]).encode())
    if stage != "train" and weights is not None:
        digest.update(sha256_file(weights).encode())
    for read in STAGE_READS.get(stage, ()):
        digest.update(f"{read}:{state.get(read, {}).get('fingerprint')}".encode())
    return digest.hexdigest()


def initial_weights(recipe: Any) -> Path | None:
    """The weights the stages after training start from when the recipe does not train."""
    init = recipe.weights.init
    if init in (None, "", "none"):
        return None
    from ..hub.pull import resolve_checkpoint

    return resolve_checkpoint(str(init))


RUN_INFO = "run.json"  # recipe path and overrides of a training run folder (what `train --resume RUN_DIR` reads)


def write_run_info(run_dir: Path, recipe_path: Path, overrides: list[str], devices: int = 1) -> Path:
    """`<run_dir>/run.json`: the recipe and `--set` overrides that train this folder."""
    path = run_dir / RUN_INFO
    write_json_atomic(path, {"recipe": str(Path(recipe_path).resolve()), "overrides": overrides, "devices": devices})
    return path


def training_plot(run_dir: Path) -> Path | None:
    """`<run_dir>/results.png`: loss terms and mAP per epoch, from the run's metrics.jsonl."""
    from ..plots import training_curves

    metrics = run_dir / "metrics.jsonl"
    return training_curves(metrics, run_dir / "results.png") if metrics.is_file() else None


def stage_train(ctx: RunContext, resume: bool) -> dict[str, Any]:
    from ..engine.trainer import Trainer

    trainer = Trainer(ctx.recipe, resume=resume, reporter=ctx.reporter)
    write_run_info(trainer.run_dir, ctx.recipe.path, ctx.overrides)
    result = trainer.fit()
    if result.interrupted:
        raise KeyboardInterrupt
    ctx.weights = result.best_weights or result.last_weights
    plot = training_plot(result.run_dir)
    return {"epochs": result.epochs_done, "steps": result.steps, "best_map": result.best_map,
            "weights": str(ctx.weights), "plot": str(plot) if plot else None}  # fmt: skip


def stage_eval(ctx: RunContext) -> dict[str, Any]:
    """mAP on the validation split; metrics, detections and the PR / confusion plots go to `<output dir>/eval`."""
    from ..engine.evaluate import evaluate_detector, paddle_detect_fn
    from ..models.pretrained import create_model
    from ..plots import eval_plots
    from ..recipe.loader import validation_index

    recipe = ctx.recipe
    index = validation_index(recipe)
    source = str(ctx.weights) if ctx.weights else recipe.model.arch
    loaded = create_model(source, None if ctx.weights else recipe.weights.init, num_classes=len(index.class_names))
    ev = recipe.eval
    detect = paddle_detect_fn(
        loaded.model, score_threshold=ev.score_threshold, nms_threshold=ev.nms_threshold, keep_top_k=ev.keep_top_k
    )
    result, detections = evaluate_detector(detect, index, loaded.model.input_size, ev.batch_size, curves=True)
    metrics = {"map": result.map, "map50": result.map50, "map75": result.map75, "images": result.num_images}
    out = Path(recipe.output.dir) / "eval"
    write_json_atomic(out / "metrics.json", {**metrics, "stats": result.stats})
    write_json_atomic(out / "detections.json", detections)
    plots = eval_plots(result, index.to_coco_gt(), detections, out)
    return {**metrics, "plots": {name: str(path) for name, path in plots.items()}}


def stage_quantize(ctx: RunContext) -> dict[str, Any]:
    from ..slim.from_recipe import run_quantize_stage

    return run_quantize_stage(ctx.recipe, ctx.weights)


def stage_export(ctx: RunContext) -> dict[str, Any]:
    from ..export.request import execute, plan, request_from_recipe

    request = request_from_recipe(ctx.recipe.path, ctx.overrides, ctx.weights)
    options, _ = plan(request)
    report, path = execute(request, options, progress=lambda f: ctx.say(f"  exporting {f} ..."))
    ctx.export_dir = options.out_dir
    formats = {name: entry["status"] for name, entry in report["formats"].items()}
    failed = [name for name, status in formats.items() if status == "failed"]
    if failed:
        raise PicodetError(f"export failed for {', '.join(failed)}", f"see {path}")
    return {"report": str(path), "dir": str(options.out_dir), "formats": formats}


def stage_bench(ctx: RunContext) -> dict[str, Any]:
    """Bench every format; the full report goes to `<output dir>/bench.json`, the summary keeps one line a format."""
    from ..bench import run_bench_stage
    from ..plots import bench_chart

    report = run_bench_stage(ctx.recipe, ctx.weights, ctx.export_dir)
    path = Path(ctx.recipe.output.dir) / "bench.json"
    write_json_atomic(path, report)
    chart = bench_chart(report["rows"], path.with_suffix(".png"))
    return {"report": str(path), "chart": str(chart) if chart else None,
            "formats": {row["format"] + (" int8" if row.get("precision") == "int8" else ""): bench_line(row)
                        for row in report["rows"]}}  # fmt: skip


def bench_line(row: dict[str, Any]) -> str:
    """`ok 12.3 ms mAP50 0.881` (or the status and error) for one bench row."""
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('error') or ''}".strip()
    latency = row.get("latency") or {}
    parts = [row["status"], f"{latency['p50']:.1f} ms" if latency.get("p50") is not None else ""]
    if row.get("map50") is not None:
        parts.append(f"mAP50 {row['map50']:.3f}")
    return " ".join(p for p in parts if p)


STAGE_FUNCTIONS: dict[str, Callable[[RunContext], dict[str, Any]]] = {
    "eval": stage_eval,
    "quantize": stage_quantize,
    "export": stage_export,
    "bench": stage_bench,
}


def run_recipe(
    recipe: Any,
    overrides: list[str],
    *,
    only: list[str] | None = None,
    force: bool = False,
    reporter: Any = None,
    say: Callable[[str], None] = print,
    exist_ok: bool = False,
) -> list[StageOutcome]:
    """Run the recipe's stages in order; one failing stage after training does not stop the others.

    The output folder must be new, empty or a run of this recipe, unless `exist_ok`."""
    from ..engine.checkpoint import claim_run_dir

    stages = select_stages(recipe.stages, only)
    if not stages:
        raise PicodetError(f"{recipe.path} declares no stage", f"add one of the sections [{'], ['.join(STAGES)}]")
    out = Path(recipe.output.dir)
    claim_run_dir(out, recipe.path, exist_ok=exist_ok)
    state_path = out / "run_state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() and not force else {}
    ctx = RunContext(recipe, overrides, initial_weights(recipe), reporter, say)
    trained = state.get("train", {}).get("summary", {}).get("weights")
    if "train" not in stages and trained:
        ctx.weights = Path(trained)
    if state.get("export", {}).get("dir"):
        ctx.export_dir = Path(state["export"]["dir"])
    outcomes = []
    for number, stage in enumerate(stages, 1):
        key = fingerprint(recipe, stage, ctx.weights, state)
        previous = state.get(stage, {})
        if previous.get("fingerprint") == key and previous.get("status") == "done":
            say(f"[{number}/{len(stages)}] {stage}: unchanged since its last run, skipped")
            outcomes.append(StageOutcome(stage, "skipped", summary=previous.get("summary", {})))
            if stage == "train":
                ctx.weights = Path(previous["summary"]["weights"])
            continue
        say(f"[{number}/{len(stages)}] {stage}")
        start = time.monotonic()
        try:
            if stage == "train":
                ckpt = out / "checkpoints" / "last.ckpt"
                if ckpt.exists() and previous.get("fingerprint") not in (None, key) and not force:
                    raise PicodetError(
                        f"{out} holds a run of a different training recipe", "use --force to train again from scratch"
                    )
                if force and ckpt.exists():
                    ckpt.unlink()
                summary = stage_train(ctx, resume=ckpt.exists())
            else:
                summary = STAGE_FUNCTIONS[stage](ctx)
            outcome = StageOutcome(stage, "done", time.monotonic() - start, summary)
        except PicodetError as error:
            if stage == "train":
                raise
            outcome = StageOutcome(stage, "failed", time.monotonic() - start, error=str(error))
            say(f"  {stage} failed: {error}")
        outcomes.append(outcome)
        state[stage] = {"fingerprint": key, "status": outcome.status, "summary": outcome.summary,
                        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
        write_json_atomic(state_path, state)
    return outcomes
