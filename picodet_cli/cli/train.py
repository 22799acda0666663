"""`picodet train` and `picodet eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import PicodetError
from .console import console, err_console, print_json
from .options import JsonOpt

SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a recipe value: section.key=value (repeatable).")
]


class RichReporter:
    """Training progress: one bar over all steps with epoch, loss terms, lr and ETA."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self.task: Any = None

    def start(self, trainer: Any, total_steps: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total_steps, completed=trainer.state.step, epoch=self._epoch(trainer), losses=""
        )

    def _epoch(self, trainer: Any) -> str:
        return f"{trainer.state.epoch + 1}/{trainer.cfg.epochs}"

    def step(self, trainer: Any, values: dict[str, float]) -> None:
        losses = (
            f"loss {values['loss']:.3f} (vfl {values['loss_vfl']:.3f} box {values['loss_bbox']:.3f} "
            f"dfl {values['loss_dfl']:.3f}) lr {values['lr']:.4g}"
        )
        self.progress.update(self.task, completed=trainer.state.step, epoch=self._epoch(trainer), losses=losses)

    def eval(self, trainer: Any, metrics: dict[str, float]) -> None:
        self.progress.console.print(
            f"epoch {trainer.state.epoch}: mAP {metrics['map']:.4f}  mAP50 {metrics['map50']:.4f}"
            f"  (best mAP {max(trainer.state.best_metric, metrics['map']):.4f})"
        )

    def note(self, message: str) -> None:
        self.progress.console.print(f"[cyan]{message}[/]")

    def stop(self) -> None:
        self.progress.stop()


def run_info_path(run_dir: Path) -> Path:
    return run_dir / "run.json"


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
    as_json: JsonOpt = False,
) -> None:
    """Train or fine-tune a PicoDet from a recipe; resumable, with EMA weights saved in the run folder."""
    from ..io import write_json_atomic
    from ..recipe.loader import check_recipe, load_recipe

    sets = list(overrides or [])
    if resume is not None and recipe is None:
        info_path = run_info_path(resume)
        if not info_path.is_file():
            raise PicodetError(f"{resume} is not a picodet run folder (no run.json)", "pass the folder train wrote")
        info = json.loads(info_path.read_text())
        recipe, sets = Path(info["recipe"]), info["overrides"] + sets
    if recipe is None:
        raise PicodetError("no recipe given", "picodet train --recipe FILE (create one with `picodet recipe new`)")
    loaded = load_recipe(recipe, sets)
    check_recipe(loaded, check_data=True)
    n_devices = devices or loaded.train.devices
    if n_devices > 1:
        from ..engine.distributed import launch

        raise typer.Exit(launch(recipe, sets, n_devices, resume is not None))
    from ..engine.trainer import Trainer

    reporter = RichReporter()
    trainer = Trainer(loaded, resume=resume is not None, reporter=reporter)
    if trainer.load_report is not None and trainer.load_report.reinitialized:
        err_console.print(f"[yellow]note:[/] {trainer.load_report.summary()}")
    write_json_atomic(
        run_info_path(trainer.run_dir), {"recipe": str(Path(recipe).resolve()), "overrides": sets, "devices": 1}
    )
    err_console.print(
        f"training {loaded.model.arch} ({trainer.model.num_classes} classes, {trainer.input_size} px) on "
        f"{trainer.train_index.summary()}; run folder {trainer.run_dir}"
    )
    result = trainer.fit()
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
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"{'stopped' if result.interrupted else 'done'}: {result.epochs_done} epochs, {result.steps} steps; "
            f"best mAP {result.best_map:.4f} (epoch {result.best_epoch}); weights in {result.run_dir / 'weights'}"
        )
    if result.interrupted:
        raise typer.Exit(130)


def eval_command(
    model: Annotated[str | None, typer.Argument(help="Zoo name, architecture name, or a run's weights file.")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Recipe (its validation split) or COCO annotations json (with --images).")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder for --data annotations.json.")] = None,
    overrides: SetOpt = None,
    weights: Annotated[str | None, typer.Option(help="Checkpoint to evaluate instead of the zoo's.")] = None,
    annotations: Annotated[Path | None, typer.Option(help="Ground truth for --detections (no model).")] = None,
    detections: Annotated[Path | None, typer.Option(help="COCO results json to score (no model).")] = None,
    per_class: Annotated[bool, typer.Option("--per-class", help="Also show AP per class.")] = False,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Network input size.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    out: Annotated[Path | None, typer.Option(help="Write results (metrics + detections) here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """COCO mAP of a model on a dataset, or of a detections file against ground truth."""
    from ..engine.coco_metrics import evaluate_coco

    if detections is not None or annotations is not None:
        if detections is None or annotations is None or model is not None:
            raise PicodetError("--annotations and --detections go together, without a model", "see picodet eval -h")
        result = evaluate_coco(annotations, detections, per_class=per_class)
        dets: list[dict[str, Any]] = []
    else:
        if model is None or data is None:
            raise PicodetError("eval needs MODEL and --data", "e.g. picodet eval s-416 --data recipe.toml")
        result, dets = evaluate_model(model, data, images, weights, imgsz, batch_size, per_class, list(overrides or []))
    report = {name: getattr(result, name) for name in ("map", "map50", "map75", "map_small", "map_medium")}
    report |= {"stats": result.stats, "num_images": result.num_images, "num_detections": result.num_detections}
    if result.per_class is not None:
        report["per_class"] = result.per_class
    if out is not None:
        from ..io import write_json_atomic

        write_json_atomic(out / "metrics.json", report)
        write_json_atomic(out / "detections.json", dets)
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


def evaluate_model(
    model: str,
    data: Path,
    images: Path | None,
    weights: str | None,
    imgsz: int | None,
    batch_size: int,
    per_class: bool,
    overrides: list[str],
) -> tuple[Any, list[dict[str, Any]]]:
    """Load the model and the validation index, then score it."""
    from ..data.index import read_dataset
    from ..engine.evaluate import evaluate_detector, paddle_detect_fn
    from ..models.pretrained import create_model

    if data.suffix == ".toml":
        from ..recipe.loader import load_recipe

        recipe = load_recipe(data, overrides)
        d = recipe.data
        index = read_dataset(d.format, d.val_images, d.val_annotations, list(d.classes) or None)
    else:
        if images is None:
            raise PicodetError("--data annotations.json needs --images FOLDER", "or pass a recipe as --data")
        index = read_dataset("coco", images, data)
    loaded = create_model(model, weights, num_classes=len(index.class_names), input_size=imgsz)
    size = loaded.model.input_size
    with Progress(
        TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console
    ) as progress:
        task = progress.add_task("eval", total=len(index))
        return evaluate_detector(
            paddle_detect_fn(loaded.model),
            index,
            size,
            batch_size,
            per_class=per_class,
            progress=lambda n: progress.advance(task, n),
        )


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
