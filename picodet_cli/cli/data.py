"""`picodet data check`: what a dataset holds and what is wrong with it, before any training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .console import console, err_console, print_json
from .options import JsonOpt

data_app = typer.Typer(help="Inspect datasets (COCO, VOC, YOLO).", no_args_is_help=True)


@data_app.command("check")
def check_command(
    target: Annotated[Path, typer.Argument(help="A recipe (.toml), a YOLO data.yaml, or a dataset folder.")],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", metavar="SECTION.KEY=VALUE", help="Override a recipe value.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Decode every image (default: a sample per split).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Report images, boxes, classes, sizes, what is skipped and why; exit 1 when training would fail.

    Examples: picodet data check recipes/finetune-voc.toml | picodet data check data.yaml --strict
    """
    from ..data.report import check_splits, find_splits

    if target.suffix == ".toml":
        from ..recipe.loader import data_report, load_recipe

        report = data_report(load_recipe(target, overrides or ()), strict=strict)
    else:
        data_format, splits = find_splits(target)
        report = check_splits(str(target), data_format, splits, strict=strict)
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: Any) -> None:
    from rich.table import Table

    from ..data.records import Tally

    table = Table(title=f"{report.target} ({report.format})", title_justify="left")
    for column in ("split", "images", "boxes", "image sizes (w x h)", "box sizes (w x h)", "decoded", "problems"):
        table.add_column(column, justify="right" if column in ("images", "boxes", "decoded") else "left")
    for s in report.splits:
        table.add_row(
            s.split,
            f"{s.images}/{s.listed}",
            str(s.boxes),
            _span(s.image_size),
            _span(s.box_size),
            f"{s.decoded - len(s.undecodable)}/{s.decoded}",
            "; ".join(s.problems) or "-",
        )
    console.print(table)
    if report.splits:
        per_class = Table(title="boxes per class", title_justify="left")
        per_class.add_column("class")
        for s in report.splits:
            per_class.add_column(s.split, justify="right")
        for name in report.class_names:
            per_class.add_row(name, *(str(s.boxes_per_class.get(name, 0)) for s in report.splits))
        console.print(per_class)
    for s in report.splits:
        lines = [f"skipped {line}" for line in Tally(s.skipped, s.skipped_examples).lines()]
        lines += Tally(s.notes, s.note_examples).lines()
        lines += [f"classes without boxes: {', '.join(s.empty_classes)}"] if s.empty_classes else []
        lines += [f"duplicate images: {', '.join(s.duplicates[:3])}"] if s.duplicates else []
        lines += [f"boxes outside or clipped to their image: {s.outside_boxes}"] if s.outside_boxes else []
        lines += [f"cannot be decoded: {', '.join(s.undecodable[:5])}"] if s.undecodable else []
        for line in lines:
            console.print(f"  {s.split}: {line}", markup=False)
    if report.shared_images:
        console.print(f"  images in two splits: {', '.join(report.shared_images)}", markup=False)
    for problem in report.all_problems():
        err_console.print(f"[bold red]problem:[/] {problem}", soft_wrap=True)
    if report.ok:
        console.print("[green]ok[/]: training can read this data")


def _span(size: dict[str, Any]) -> str:
    if not size:
        return "-"
    return f"{size['min_width']}-{size['max_width']} x {size['min_height']}-{size['max_height']}"


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
