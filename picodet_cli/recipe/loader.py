"""Declarative TOML recipes: `base` inheritance, `--set` overrides, schema validation and path resolution.

Paths: `base`, `data.root` and a checkpoint path in `weights.init` are relative to the file that sets them;
the other data paths are relative to `data.root`; `output.dir` and `export.dir` (what a run produces) are
relative to the current directory, like every path given with `--set`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_INPUT_SIZE, DEFAULT_NUM_CLASSES, SIZE_MULTIPLE, VALIDATION_SPLIT
from ..errors import PicodetError
from ..zoo import load_zoo
from .schema import (
    LAYOUTS,
    SECTIONS,
    STAGES,
    AugmentSection,
    BenchSection,
    DataSection,
    EvalSection,
    ExportSection,
    ModelSection,
    OutputSection,
    QuantizeSection,
    RecipeError,
    TrainSection,
    WeightsSection,
    check_names,
    expected_type,
    raw_default,
    section_fields,
    validate,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

OVERRIDE = "--set"


@dataclass(frozen=True)
class Recipe:
    """A fully resolved recipe: every value set, every path absolute."""

    path: Path
    stages: list[str]
    model: ModelSection
    weights: WeightsSection
    data: DataSection
    train: TrainSection
    augment: AugmentSection
    eval: EvalSection
    output: OutputSection
    quantize: QuantizeSection
    export: ExportSection
    bench: BenchSection

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every section as plain TOML/JSON values; loading it back as a recipe gives the same values."""
        return {name: {k: _plain(v) for k, v in dataclasses.asdict(getattr(self, name)).items()} for name in SECTIONS}

    def fingerprint(self, *sections: str) -> str:
        """sha256 of the resolved values of the given sections (all of them when none is given)."""
        values = self.to_dict()
        unknown = [s for s in sections if s not in values]
        if unknown:
            raise ValueError(f"unknown recipe section(s): {', '.join(unknown)}")
        chosen = {s: values[s] for s in sections or values}
        return hashlib.sha256(json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return "none" if value is None else value


def display_path(path: Path) -> str:
    """`path` relative to the current directory when it lies below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------- reading


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(
            f"{display_path(path)}: file not found", f"`picodet recipe new {display_path(path)}` writes a starter"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{display_path(path)}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"line {found[1]}, column {found[2]}: " if found else ""
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise RecipeError(
            f"{display_path(path)}: {where}invalid TOML: {problem}", "fix the TOML syntax there"
        ) from None


def _anchor(section: str, name: str, value: Any, folder: Path) -> Any:
    """Make the file-relative paths (`data.root`, a checkpoint in `weights.init`) absolute."""
    if not isinstance(value, str) or (section, name) not in (("data", "root"), ("weights", "init")):
        return value
    if name == "init" and (value.lower() == "none" or "://" in value or load_zoo().find(value)):
        return value
    return str((folder / Path(value).expanduser()).resolve())


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Tables merge recursively, the child wins; everything else (lists included) is replaced."""
    merged = dict(base)
    for name, value in child.items():
        both_tables = isinstance(value, dict) and isinstance(merged.get(name), dict)
        merged[name] = _merge(merged[name], value) if both_tables else value
    return merged


def _load_chain(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The merged tables of `path` and its bases, and for each key the file that set it."""
    label = display_path(path)
    data = _read_toml(path)
    base = data.pop("base", None)
    check_names(label, data)
    data = {s: {k: _anchor(s, k, v, path.parent) for k, v in t.items()} for s, t in data.items()}
    origins = {(s, k): label for s, t in data.items() for k in t}
    if base is None:
        return data, origins
    if not isinstance(base, str) or not base:
        raise RecipeError(f"{label}: base: must be a file name (string)", 'e.g. base = "_coco.toml"')
    base_path = (path.parent / base).resolve()
    if base_path in (*chain, path):
        cycle = " -> ".join(display_path(p) for p in (*chain, path, base_path))
        raise RecipeError(f"{label}: base: inheritance cycle {cycle}", "remove one of the `base` keys")
    if not base_path.is_file():
        raise RecipeError(f"{label}: base: '{base}' not found (looked for {display_path(base_path)})")
    parent, parent_origins = _load_chain(base_path, (*chain, path))
    return _merge(parent, data), {**parent_origins, **origins}


# ---------------------------------------------------------------------------------------------- overrides


def _parse_value(text: str) -> Any:
    """A TOML value (10, 0.5, true, [1, 2], "x"), else the text itself."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(text: str) -> tuple[str, str, Any]:
    """`section.key=value` -> (section, key, typed value)."""
    name, sep, value = text.partition("=")
    section, dot, key_name = name.strip().partition(".")
    if not sep or not dot or not section or not key_name:
        raise RecipeError(f"{OVERRIDE}: '{text}': expected section.key=value", "e.g. --set train.epochs=10")
    check_names(OVERRIDE, {section: {key_name: None}})
    parsed = _parse_value(value.strip())
    if expected_type(section, key_name).startswith("list") and not isinstance(parsed, list):
        items = parsed.split(",") if isinstance(parsed, str) else [parsed]
        parsed = [_parse_value(i.strip()) if isinstance(i, str) else i for i in items]
    return section, key_name, _anchor(section, key_name, parsed, Path.cwd())


# ---------------------------------------------------------------------------------------------- validation


# ---------------------------------------------------------------------------------------------- resolution


def _values(section: str, data: dict[str, Any]) -> dict[str, Any]:
    """User values over the schema defaults (derived defaults still `None`)."""
    table = data.get(section, {})
    values = {name: table.get(name, raw_default(f)) for name, f in section_fields(section).items()}
    return {k: float(v) if expected_type(section, k) == "float" else v for k, v in values.items()}


def build_recipe(path: Path, data: dict[str, Any], origins: dict[tuple[str, str], str] | None = None) -> Recipe:
    """Validate merged tables and resolve them into a `Recipe`, as if read from the file `path`.

    `origins` names the file (or `--set`) that set each (section, key), for error messages; default `path`.
    """
    leaf = display_path(path)
    origins = origins or {}
    check_names(leaf, data)
    validate(data, {(s, k): origins.get((s, k), leaf) for s, t in data.items() for k in t})

    def where(section: str, name: str) -> str:
        return f"{origins.get((section, name), leaf)}: {section}.{name}"

    zoo = load_zoo()
    model, data_v = _values("model", data), _values("data", data)
    if not model["arch"]:
        raise RecipeError(
            f"{where('model', 'arch')}: missing (required)", 'e.g. [model] arch = "s-416"; see `picodet zoo`'
        )
    entry = zoo.find(model["arch"])
    if entry is None and model["arch"] not in zoo.archs:
        raise RecipeError(
            f"{where('model', 'arch')}: unknown model or architecture '{model['arch']}'", zoo.suggest(model["arch"])
        )
    classes = data_v["classes"]
    if len(set(classes)) != len(classes) or not all(classes):
        raise RecipeError(f"{where('data', 'classes')}: class names must be unique and non-empty")
    if model["num_classes"] is not None and classes and model["num_classes"] != len(classes):
        raise RecipeError(
            f"{where('model', 'num_classes')}: {model['num_classes']} but data.classes names {len(classes)} classes",
            "remove num_classes (it defaults to the number of class names)",
        )
    if data_v["format"] == "voc" and not classes:
        raise RecipeError(
            f"{where('data', 'classes')}: required for VOC data", 'list the names in id order: ["cat", "dog"]'
        )
    root = Path(data_v["root"]) if Path(data_v["root"]).is_absolute() else path.parent / data_v["root"]
    data_v["root"] = root
    for name, default in LAYOUTS[data_v["format"]].items():
        data_v[name] = root / Path(data_v[name] or default).expanduser()
    found = len(classes) or (_yolo_class_count(data_v["train_annotations"]) if data_v["format"] == "yolo" else 0)
    model["num_classes"] = model["num_classes"] or found or (entry.num_classes if entry else DEFAULT_NUM_CLASSES)
    model["input_size"] = model["input_size"] or (entry.input_size if entry else DEFAULT_INPUT_SIZE)

    weights = _values("weights", data)
    weights["init"] = None if weights["init"].lower() == "none" else weights["init"]
    train = _values("train", data)
    train["cosine_epochs"] = train["cosine_epochs"] or train["epochs"]
    augment = _values("augment", data)
    size = model["input_size"]
    step = SIZE_MULTIPLE
    augment["sizes"] = augment["sizes"] or [s for s in range(size - 2 * step, size + 2 * step + 1, step) if s > 0]
    output = _values("output", data)
    output["dir"] = Path.cwd() / Path(output["dir"] or f"runs/{path.stem}").expanduser()
    export = _values("export", data)
    export["input_size"] = export["input_size"] or size
    export["dir"] = Path.cwd() / Path(export["dir"]).expanduser() if export["dir"] else output["dir"] / "export"
    return Recipe(
        path=path,
        stages=[s for s in STAGES if s in data],
        model=ModelSection(**model),
        weights=WeightsSection(**weights),
        data=DataSection(**data_v),
        train=TrainSection(**train),
        augment=AugmentSection(**augment),
        eval=EvalSection(**_values("eval", data)),
        output=OutputSection(**output),
        quantize=QuantizeSection(**_values("quantize", data)),
        export=ExportSection(**export),
        bench=BenchSection(**_values("bench", data)),
    )


def _yolo_class_count(data_yaml: Path) -> int:
    """How many classes a data.yaml names (0 when it cannot be read: `recipe check` says why)."""
    from ..data.yolo import load_data_yaml

    try:
        return len(load_data_yaml(data_yaml)["names"])
    except PicodetError:
        return 0


def load_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe, follow its `base` chain, apply `section.key=value` overrides, validate and resolve."""
    recipe_path = Path(path).expanduser().resolve()
    data, origins = _load_chain(recipe_path)
    for text in overrides:
        section, name, value = parse_override(text)
        data.setdefault(section, {})[name] = value
        origins[section, name] = OVERRIDE
    return build_recipe(recipe_path, data, origins)


def default_recipes_dir() -> Path:
    """The bundled recipes: inside an installed wheel, else at the top of the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "recipes", here.parent.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    raise RecipeError("the bundled recipes folder is missing", "reinstall picodet: pip install -e .")


# ---------------------------------------------------------------------------------------------- checking


def _data_splits(recipe: Recipe) -> list[str]:
    """The dataset splits the declared stages read."""
    stages = set(recipe.stages)
    train = "train" in stages or ("quantize" in stages and recipe.quantize.method == "qat")
    val = bool(stages & {"train", "eval", "quantize"}) or ("bench" in stages and recipe.bench.data)
    return [split for split, needed in (("train", train), ("val", val)) if needed]


def _check_weights(recipe: Recipe, label: str) -> str:
    init, zoo = recipe.weights.init, load_zoo()
    if init is None:
        return "weights: none (random initialisation)"
    entry = zoo.find(init)
    if entry is not None:
        if recipe.weights.strict and entry.num_classes != recipe.model.num_classes:
            raise RecipeError(
                f"{label}: weights.strict: {entry.name} has {entry.num_classes} classes, "
                f"the model {recipe.model.num_classes}",
                "set weights.strict = false to re-initialise the class layers",
            )
        return f"weights: {entry.name} (zoo; pulled on first use)"
    if "://" in init:
        return f"weights: {init} (downloaded on first use)"
    if not Path(init).is_file():
        raise RecipeError(f"{label}: weights.init: no zoo model or file '{init}'", zoo.suggest(Path(init).name))
    return f"weights: {display_path(Path(init))}"


def recipe_splits(recipe: Recipe, splits: Sequence[str] = ("train", "val")) -> list[Any]:
    """The recipe's dataset splits as `data.report.Split`s (for the report and `picodet data check`)."""
    from ..data.report import Split

    data = recipe.data
    return [Split(s, data.format, getattr(data, f"{s}_images"), getattr(data, f"{s}_annotations")) for s in splits]


def data_report(recipe: Recipe, splits: Sequence[str] = ("train", "val"), strict: bool = False) -> Any:
    """The dataset report (`data.report.DataReport`) of the recipe's splits; a train split needs one total batch."""
    from ..data.report import check_splits

    batch = recipe.train.batch_size * recipe.train.devices
    classes = list(recipe.data.classes) or None
    return check_splits(str(recipe.path), recipe.data.format, recipe_splits(recipe, splits), classes, strict, batch)


def _check_paths(recipe: Recipe, label: str, split: str) -> None:
    data = recipe.data
    images, annotations = getattr(data, f"{split}_images"), getattr(data, f"{split}_annotations")
    layout_hint = "check data.root and the data paths"
    if not annotations.exists():
        raise RecipeError(f"{label}: data.{split}_annotations: not found: {annotations}", layout_hint)
    folder_needed = data.format == "coco" or (data.format == "voc" and annotations.is_dir())
    if folder_needed and not images.is_dir():
        raise RecipeError(f"{label}: data.{split}_images: folder not found: {images}", layout_hint)


def _check_data(recipe: Recipe, label: str, splits: list[str], strict: bool) -> list[str]:
    """Read every split through the dataset report; its first problem (the real cause) is the error."""
    from ..data.report import check_splits

    for split in splits:
        _check_paths(recipe, label, split)
    classes = list(recipe.data.classes) or None
    try:
        report = check_splits(
            str(recipe.path), recipe.data.format, recipe_splits(recipe, splits), classes, strict, fail_fast=True
        )
    except PicodetError as error:
        split, _, message = error.message.partition(": ")
        raise RecipeError(f"{label}: data.{split}_annotations: {message}", error.hint) from None
    lines = []
    for split in report.splits:
        if split.problems:
            raise RecipeError(f"{label}: data.{split.split}_annotations: {split.problems[0]}", "`picodet data check "
                              f"{display_path(recipe.path)}` shows the whole dataset report")  # fmt: skip
        found = len(report.class_names)
        if found != recipe.model.num_classes:
            raise RecipeError(
                f"{label}: model.num_classes: {recipe.model.num_classes}, but "
                f"{getattr(recipe.data, f'{split.split}_annotations').name} has {found} classes",
                f"list them in data.classes (or set model.num_classes = {found})",
            )
        total = recipe.train.batch_size * recipe.train.devices
        if split.split == "train" and split.images < total:
            raise RecipeError(
                f"{label}: train.batch_size: {recipe.train.batch_size} x {recipe.train.devices} device(s) is more "
                f"than the {split.images} training images",
                f"use batch_size <= {split.images // recipe.train.devices}",
            )
        lines.append(f"data {split.split}: {_split_line(split)}")
    return lines


def _split_line(split: Any) -> str:
    """One line of a split report: counts, what was skipped, the decoding check."""
    from ..data.records import Tally

    skipped = "; ".join(Tally(split.skipped, split.skipped_examples).lines()) or "nothing"
    notes = "; ".join(Tally(split.notes, split.note_examples).lines())
    bad = (
        f", {len(split.undecodable)} cannot be decoded ({', '.join(split.undecodable[:3])})"
        if split.undecodable
        else ""
    )
    line = (
        f"{split.source}: {split.images} images, {split.boxes} boxes, {len(split.boxes_per_class)} classes; "
        f"skipped: {skipped}; decoded {split.decoded} images{bad}"
    )
    return line + (f"; {notes}" if notes else "")


def _check_export(recipe: Recipe, label: str) -> str:
    """The export formats must honour the flags (`opset` only reaches the formats that take it)."""
    from ..export.formats import FORMAT_NAMES, get_format, select_formats

    export = recipe.export
    named = [get_format(name) for name in export.formats if name in FORMAT_NAMES]
    target = export.target if "all" in export.formats or any(f.targets for f in named) else None
    try:
        chosen, _ = select_formats(
            ",".join(export.formats), fp16=export.fp16, postprocess=export.postprocess, target=target, opset=None
        )
    except PicodetError as error:
        raise RecipeError(f"{label}: export.formats: {error.message}", error.hint) from None
    return f"export: {', '.join(f.name for f in chosen)} -> {display_path(export.dir)}"


def check_recipe(recipe: Recipe, check_data: bool = True, strict: bool = False) -> list[str]:
    """Check what a recipe points at (model, weights, dataset); return info lines, raise on the first problem.

    `check_data=False` skips the dataset on disk entirely (paths and annotations). The dataset is read through
    the dataset report (`data.report`): a sample of images is decoded, every image with `strict`.
    """
    label, model, zoo = display_path(recipe.path), recipe.model, load_zoo()
    entry = zoo.find(model.arch)
    if entry is None and model.arch not in zoo.archs:
        raise RecipeError(f"{label}: model.arch: unknown model or architecture '{model.arch}'", zoo.suggest(model.arch))
    name = f"{model.arch} ({entry.arch.name})" if entry else model.arch
    lines = [f"model: {name}, {model.input_size} px, {model.num_classes} classes"]
    lines.append(_check_weights(recipe, label))
    splits = _data_splits(recipe) if check_data else []
    if splits and not recipe.data.root.is_dir():
        raise RecipeError(f"{label}: data.root: folder not found: {recipe.data.root}", "--set data.root=PATH")
    lines += _check_data(recipe, label, splits, strict) if splits else []
    lines += [_check_export(recipe, label)] if "export" in recipe.stages else []
    lines.append(f"stages: {', '.join(recipe.stages) or 'none'}")
    lines.append(f"output: {display_path(recipe.output.dir)}")
    return lines


def training_index(recipe: Recipe) -> Any | None:
    """The recipe's training split as a dataset index (what quantize calibrates on); None when its images are not
    there (an evaluation-only recipe)."""
    from ..data.index import read_dataset

    d = recipe.data
    if d.train_images is None or d.train_annotations is None or not Path(d.train_images).exists():
        return None
    return read_dataset(d.format, d.train_images, d.train_annotations, list(d.classes) or None)


def validation_index(recipe: Recipe) -> Any:
    """The recipe's validation split (what eval, quantize and bench score on), read as a dataset index."""
    from ..data.index import read_dataset

    d = recipe.data
    images, annotations = (getattr(d, f"{VALIDATION_SPLIT}_{part}") for part in ("images", "annotations"))
    return read_dataset(d.format, images, annotations, list(d.classes) or None)


def evaluation_index(data: Path, images: Path | None, overrides: Sequence[str] = ()) -> Any:
    """`--data` as the commands take it: a recipe (its validation split, `--set` applied), a YOLO data.yaml (its
    `val`), or COCO json + --images."""
    from ..data.index import read_dataset

    if data.suffix == ".toml":
        return validation_index(load_recipe(data, overrides))
    if data.suffix in (".yaml", ".yml") and not overrides:  # a YOLO data.yaml: its `val` split
        return read_dataset("yolo", data.parent / VALIDATION_SPLIT, data)
    if overrides:
        raise PicodetError("--set applies to a recipe given as --data", "drop --set, or pass a recipe as --data")
    if images is None:
        raise PicodetError(
            f"--data {data} needs --images FOLDER: the folder holding the images that its `file_name`s name",
            "or pass a recipe as --data",
        )
    return read_dataset("coco", images, data)
