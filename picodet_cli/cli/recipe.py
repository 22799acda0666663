"""`picodet recipe new|check|show`: write, validate and print declarative TOML recipes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .console import console, print_json
from .options import JsonOpt, SetOpt

recipe_app = typer.Typer(
    help="Write, check and show TOML recipes (the settings of train, eval, quantize, export and bench).",
    no_args_is_help=True,
)


class DataFormat(str, Enum):
    coco = "coco"
    voc = "voc"
    yolo = "yolo"


RecipeArg = Annotated[Path, typer.Argument(help="Recipe TOML file.", metavar="RECIPE")]


@recipe_app.command("new")
def new_command(
    path: Annotated[Path, typer.Argument(help="Where to write the recipe.", metavar="PATH")] = Path("picodet.toml"),
    model: Annotated[str, typer.Option("--model", help="Zoo model or architecture to start from.")] = "s-416",
    data: Annotated[DataFormat, typer.Option("--data", help="Annotation format of your dataset.")] = DataFormat.coco,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter recipe for fine-tuning MODEL on your dataset."""
    from ..io import write_text_atomic
    from ..recipe.loader import RecipeError
    from ..recipe.starter import starter_recipe

    if path.exists() and not force:
        raise RecipeError(f"{path}: already exists", "pass --force to overwrite it, or give another PATH")
    write_text_atomic(path, starter_recipe(model, data.value, path.resolve()))
    console.print(f"wrote {path}", markup=False)
    console.print(f"next: edit [data] root and paths, then `picodet recipe check {path}`", markup=False)


@recipe_app.command("check")
def check_command(
    path: RecipeArg,
    overrides: SetOpt = None,
    no_data: Annotated[bool, typer.Option("--no-data", help="Do not look at the dataset on disk.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Decode every image (default: a sample).")] = False,
) -> None:
    """Validate a recipe and what it points at (model, weights, dataset); exit 1 on the first problem."""
    from ..recipe.loader import check_recipe, display_path, load_recipe

    recipe = load_recipe(path, overrides or ())
    lines = check_recipe(recipe, check_data=not no_data, strict=strict)
    console.print(f"[green]ok[/] {display_path(recipe.path)}")
    for line in lines:
        console.print(f"  {line}", markup=False)


@recipe_app.command("show")
def show_command(path: RecipeArg, overrides: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Print the fully resolved recipe (bases merged, overrides applied, defaults filled in, paths absolute)."""
    from ..recipe.loader import display_path, load_recipe
    from ..recipe.starter import to_toml

    recipe = load_recipe(path, overrides or ())
    if as_json:
        print_json({"path": str(recipe.path), "stages": recipe.stages, **recipe.to_dict()})
        return
    stages = ", ".join(recipe.stages) or "none"
    typer.echo(to_toml(recipe.to_dict(), comment=f"{display_path(recipe.path)}, resolved; stages: {stages}"))


def register(app: typer.Typer) -> None:
    app.add_typer(recipe_app, name="recipe")
