"""Recipes as TOML text: resolved values for `picodet recipe show`, commented starters for `picodet recipe new`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..zoo import load_zoo
from .loader import build_recipe
from .schema import LAYOUTS, SECTIONS, RecipeError, section_fields, toml_value

STARTER_ROOT = "datasets/mydata"
STARTER_TRAIN = {"epochs": 100, "batch_size": 32, "lr": 0.04}
HEADER = """\
# picodet recipe, written by `picodet recipe new`. Every key is documented in docs/recipes.md.
# Commented-out keys show their default. Uncomment a [quantize], [export] or [bench] header to add that stage.
# `picodet recipe check {name}` validates it; `picodet recipe show {name}` prints every resolved value.
# Paths: data.root is relative to this file, the other data paths to data.root, output.dir to the current directory.

# base = "other.toml"  # inherit another recipe (relative to this file); the keys here win
"""


def to_toml(tables: dict[str, dict[str, Any]], comment: str = "") -> str:
    """Tables of scalars and lists as TOML text, with an optional leading comment line."""
    lines = [f"# {comment}", ""] if comment else []
    for section, table in tables.items():
        lines += [f"[{section}]", *(f"{name} = {toml_value(value)}" for name, value in table.items()), ""]
    return "\n".join(lines)


def _starter_tables(model: str, data_format: str) -> dict[str, dict[str, Any]]:
    zoo = load_zoo()
    entry = zoo.find(model)
    if entry is None and model not in zoo.archs:
        raise RecipeError(f"--model: unknown model or architecture '{model}'", zoo.suggest(model))
    data: dict[str, Any] = {"format": data_format, "root": STARTER_ROOT, **LAYOUTS[data_format]}
    if data_format == "voc":
        data["classes"] = ["class_a", "class_b"]
    return {
        "model": {"arch": model},
        "weights": {"init": entry.name if entry else "none"},
        "data": data,
        "train": dict(STARTER_TRAIN),
        "augment": {},
        "eval": {},
        "output": {},
    }


def data_yaml_recipe(model: str, data_yaml: Path, run_dir: Path) -> str:
    """The recipe `picodet train --data data.yaml --model M` runs: `model` fine-tuned on the YOLO dataset with the
    starter's training values, every path absolute (it is saved in, and writes to, `run_dir`).
    """
    tables = _starter_tables(model, "yolo")
    data_yaml = data_yaml.resolve()
    tables["data"] = {"format": "yolo", "root": str(data_yaml.parent), **LAYOUTS["yolo"], "train_annotations":
                      data_yaml.name, "val_annotations": data_yaml.name}  # fmt: skip
    tables["output"] = {"dir": str(run_dir.resolve())}
    return to_toml(tables, comment=f"written by `picodet train --data {data_yaml.name} --model {model}`")


def write_data_yaml_recipe(data_yaml: Path, model: str) -> Path:
    """Write (or keep, when unchanged) `runs/<dataset folder>-<model>/recipe.toml` for `data_yaml`; its path."""
    from ..data.yolo import load_data_yaml
    from ..io import write_text_atomic

    load_data_yaml(data_yaml)  # a missing or malformed yaml is reported before anything is written
    run_dir = Path.cwd() / "runs" / f"{data_yaml.resolve().parent.name}-{model}"
    path = run_dir / "recipe.toml"
    text = data_yaml_recipe(model, data_yaml, run_dir)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    return path


def starter_recipe(model: str, data_format: str, path: Path) -> str:
    """A commented recipe for fine-tuning `model` on a COCO, VOC or YOLO dataset, every key listed."""
    active = _starter_tables(model, data_format)
    resolved = build_recipe(path, active).to_dict()
    shown = {"output": {"dir": f"runs/{path.stem}"}, "export": {"dir": "", "input_size": 0}}
    lines = [HEADER.format(name=path.name)]
    for section in SECTIONS:
        commented = section not in active
        lines.append(f"{'# ' if commented else ''}[{section}]")
        for name, field in section_fields(section).items():
            if name in active.get(section, {}):
                value, prefix = active[section][name], ""
            else:
                value, prefix = shown.get(section, {}).get(name, resolved[section][name]), "# "
            choices = field.metadata.get("choices")
            doc = field.metadata["doc"] + (f" ({' | '.join(choices)})" if choices else "")
            lines.append(f"{prefix}{name} = {toml_value(value)}  # {doc}")
        lines.append("")
    return "\n".join(lines)
