"""`picodet train` and `picodet eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import PicodetError
from .console import console, err_console, print_json, show_path
from .options import JsonOpt, SetOpt
from .reporting import TrainReporter, counter


def train_command(
    recipe: Annotated[Path | None, typer.Option(help="Recipe TOML (see `picodet recipe new`).")] = None,
    overrides: SetOpt = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this folder (or the recipe's output folder with --resume .)."),
    ] = None,
    devices: Annotated[
        int, typer.Option(min=0, help="Data-parallel processes (default: the recipe's train.devices).")
    ] = 0,
    data: Annotated[
        Path | None, typer.Option(help="A YOLO data.yaml to train on without a recipe (one is written).")
    ] = None,
    model: Annotated[str, typer.Option(help="Zoo model or architecture for --data.")] = "s-320",
    nnodes: Annotated[int, typer.Option(min=1, help="Machines taking part (multi-node training).")] = 1,
    node_rank: Annotated[int, typer.Option(min=0, help="This machine's rank, 0..nnodes-1.")] = 0,
    master: Annotated[str | None, typer.Option(help="HOST:PORT of the rank-0 machine (multi-node).")] = None,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Write into an output folder that is not a run of this recipe.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train or fine-tune a PicoDet from a recipe (or a data.yaml); resumable, EMA weights saved in the run folder."""
    from ..pipelines.stages import training_plot, write_run_info
    from ..recipe.loader import check_recipe, load_recipe

    sets = list(overrides or [])
    if resume is not None and recipe is None:
        from ..pipelines.stages import RUN_INFO

        info_path = resume / RUN_INFO
        if not info_path.is_file():
            raise PicodetError(f"{resume} is not a picodet run folder (no run.json)", "pass the folder train wrote")
        info = json.loads(info_path.read_text())
        recipe, sets = Path(info["recipe"]), info["overrides"] + sets
    if recipe is None and data is not None:
        from ..recipe.starter import write_data_yaml_recipe

        recipe = write_data_yaml_recipe(data, model)
        err_console.print(f"recipe for {data}: {show_path(recipe)}", markup=False, soft_wrap=True)
    if recipe is None:
        raise PicodetError("no recipe given", "picodet train --recipe FILE (create one with `picodet recipe new`)")
    loaded = load_recipe(recipe, sets)
    check_recipe(loaded, check_data=True)
    from ..engine.checkpoint import claim_run_dir

    claim_run_dir(Path(loaded.output.dir), loaded.path, exist_ok=exist_ok)  # before launch writes dist_logs/ there
    n_devices = devices or loaded.train.devices
    if n_devices > 1 or nnodes > 1:
        from ..engine.distributed import launch

        raise typer.Exit(launch(recipe, sets, n_devices, resume is not None, nnodes, node_rank, master))
    from ..engine.trainer import Trainer

    reporter = TrainReporter()
    trainer = Trainer(loaded, resume=resume is not None, reporter=reporter)
    if trainer.load_report is not None and trainer.load_report.reinitialized:
        err_console.print(f"[yellow]note:[/] {trainer.load_report.summary()}")
    write_run_info(trainer.run_dir, recipe, sets)
    err_console.print(
        f"training {loaded.model.arch} ({trainer.model.num_classes} classes, {trainer.input_size} px) on "
        f"{trainer.train_index.summary()}; run folder {show_path(trainer.run_dir)}",
        markup=False,
        soft_wrap=True,
    )
    result = trainer.fit()
    plot = training_plot(result.run_dir)
    summary = {
        "run_dir": str(result.run_dir),
        "epochs": result.epochs_done,
        "steps": result.steps,
        "interrupted": result.interrupted,
        "best_map": result.best_map,
        "best_epoch": result.best_epoch,
        "best_weights": str(result.best_weights) if result.best_weights else None,
        "last_weights": str(result.last_weights) if result.last_weights else None,
        "history": result.history,
        "results_png": str(plot) if plot else None,
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"{'stopped' if result.interrupted else 'done'}: {result.epochs_done} epochs, {result.steps} steps; "
            f"best mAP {result.best_map:.4f} (epoch {result.best_epoch}); weights in "
            f"{show_path(result.run_dir / 'weights')}",
            markup=False,
            soft_wrap=True,
        )
        if plot:
            console.print(f"training curves: {show_path(plot)}", markup=False, soft_wrap=True)
    if result.interrupted:
        raise typer.Exit(130)


def eval_command(
    model: Annotated[str | None, typer.Argument(help="Zoo name, architecture name, or a run's weights file.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Recipe (its validation split), YOLO data.yaml (val), or COCO json (with --images)."),
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder for --data annotations.json.")] = None,
    overrides: SetOpt = None,
    weights: Annotated[str | None, typer.Option(help="Checkpoint to evaluate instead of the zoo's.")] = None,
    annotations: Annotated[Path | None, typer.Option(help="Ground truth for --detections (no model).")] = None,
    detections: Annotated[Path | None, typer.Option(help="COCO results json to score (no model).")] = None,
    per_class: Annotated[bool, typer.Option("--per-class", help="Also show AP per class.")] = False,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Network input size.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for metrics.json, detections.json, PR_curve.png and confusion_matrix.png "
            "(default runs/eval/<model>)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """COCO mAP of a model on a dataset, or of a detections file against ground truth."""
    from ..engine.coco_metrics import evaluate_coco

    if detections is not None or annotations is not None:
        if detections is None or annotations is None or model is not None:
            raise PicodetError("--annotations and --detections go together, without a model", "see picodet eval -h")
        result = evaluate_coco(annotations, detections, per_class=per_class, curves=True)
        gt, dets = _read_json(annotations), _read_json(detections)
    else:
        if model is None or data is None:
            raise PicodetError("eval needs MODEL and --data", "e.g. picodet eval s-416 --data recipe.toml")
        sets = list(overrides or [])
        result, dets, gt = evaluate_model(model, data, images, weights, imgsz, batch_size, per_class, sets)
    report = {name: getattr(result, name) for name in ("map", "map50", "map75", "map_small", "map_medium")}
    report |= {"stats": result.stats, "num_images": result.num_images, "num_detections": result.num_detections}
    if result.per_class is not None:
        report["per_class"] = result.per_class
    from ..io import write_json_atomic
    from ..plots import eval_plots

    out = out or Path("runs/eval") / (Path(model).stem if model else "detections")
    write_json_atomic(out / "metrics.json", report)
    write_json_atomic(out / "detections.json", dets)
    plots = eval_plots(result, gt, dets, out)
    if as_json:
        print_json(report)
        return
    console.print(result.summary_text.rstrip())
    if result.per_class:
        table = Table(title="AP per class", title_justify="left")
        table.add_column("class")
        table.add_column("AP", justify="right")
        for name, ap in result.per_class.items():
            table.add_row(name, "-" if ap < 0 else f"{ap:.4f}")
        console.print(table)
    console.print(f"metrics, detections and plots in {show_path(out)}", markup=False, soft_wrap=True)
    for path in plots.values():
        console.print(f"  {show_path(path)}", markup=False, soft_wrap=True)


def _read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def evaluate_model(
    model: str,
    data: Path,
    images: Path | None,
    weights: str | None,
    imgsz: int | None,
    batch_size: int,
    per_class: bool,
    overrides: list[str],
) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """Load the model and the validation index, then score it: (result, detections, ground truth)."""
    from ..engine.evaluate import evaluate_detector, paddle_detect_fn
    from ..models.pretrained import create_model
    from ..recipe.loader import evaluation_index

    index = evaluation_index(data, images, overrides)
    loaded = create_model(model, weights, num_classes=len(index.class_names), input_size=imgsz)
    size = loaded.model.input_size
    with counter("evaluating images", len(index)) as advance:
        result, dets = evaluate_detector(
            paddle_detect_fn(loaded.model), index, size, batch_size, per_class=per_class, progress=advance, curves=True
        )
    return result, dets, index.to_coco_gt()


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
