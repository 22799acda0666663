"""`picodet predict`: detect objects in images, draw them, report JSON."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..defaults import PREDICT_SCORE_THRESHOLD
from ..errors import PicodetError
from .console import console, err_console, print_json, show_path
from .options import CacheDirOpt, JsonOpt

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def collect_images(sources: list[Path]) -> list[Path]:
    """Expand folders (their image files, sorted); keep files as given."""
    images: list[Path] = []
    for source in sources:
        if source.is_dir():
            images.extend(sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif source.exists():
            images.append(source)
        else:
            raise PicodetError(f"{source}: no such file or folder", "give image files or folders of images")
    if not images:
        raise PicodetError(
            "no images found in " + ", ".join(map(str, sources)), f"image types: {sorted(IMAGE_SUFFIXES)}"
        )
    return images


def predict_command(
    model: Annotated[
        str,
        typer.Argument(
            help="Zoo name (e.g. s-416), architecture name used with --weights, or an exported model file/folder "
            "(ONNX, OpenVINO, ncnn, MNN, Paddle inference, Lite)."
        ),
    ],
    sources: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    weights: Annotated[str | None, typer.Option(help="Checkpoint (.pdparams) to load instead of the zoo's.")] = None,
    score_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Keep detections at least this sure.")
    ] = PREDICT_SCORE_THRESHOLD,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Network input size (default: the model's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for annotated images and predictions.json.")] = Path("runs/predict"),
    classes: Annotated[str | None, typer.Option(help="Comma-separated class names (default: COCO).")] = None,
    strict: Annotated[bool, typer.Option(help="Refuse checkpoints whose keys or shapes do not match.")] = True,
    as_json: JsonOpt = False,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Detect objects: saves each image with boxes drawn and prints a summary (or JSON)."""
    from ..predict.batch import predict_images
    from ..predict.predictor import Detector

    images = collect_images(sources)
    names = [c.strip() for c in classes.split(",")] if classes else None
    detector = Detector(
        model, weights, class_names=names, score_threshold=score_threshold, input_size=imgsz, strict=strict,
        cache_dir=cache_dir,
    )  # fmt: skip
    if names and len(names) != detector.model.num_classes:
        raise PicodetError(
            f"--classes has {len(names)} names but the model predicts {detector.model.num_classes} classes",
            "give one name per class, in order",
        )
    if detector.load_report is not None and getattr(detector.load_report, "reinitialized", None):
        err_console.print(f"[yellow]warning:[/] {escape(detector.load_report.summary())}", soft_wrap=True)

    def skipped(path: Path, message: str) -> None:
        err_console.print(f"[yellow]skipped[/] {escape(show_path(path))}: {escape(message)}", soft_wrap=True)

    run = predict_images(detector, images, out, model, on_skip=skipped)
    if as_json:
        print_json({"predictions": run.predictions, "skipped": run.skipped})
        return
    table = Table(title=f"{model}: {len(run.predictions)} image(s), score >= {score_threshold}", title_justify="left")
    table.add_column("image", no_wrap=True)
    table.add_column("detections", justify="right")
    table.add_column("classes")
    table.add_column("output", no_wrap=True)
    for record in run.predictions:
        counts = Counter(d["name"] for d in record["detections"])
        summary = ", ".join(f"{n} x{c}" for n, c in counts.most_common(5)) or "-"
        table.add_row(Path(record["image"]).name, str(len(record["detections"])), summary, show_path(record["output"]))
    console.print(table)
    console.print(f"predictions written to {show_path(run.path)}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)
