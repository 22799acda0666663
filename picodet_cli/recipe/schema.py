"""The recipe schema: one frozen dataclass per TOML section, and the checks of user tables against it.

Each field's metadata carries its doc and rules. A field whose default is `None` is derived when the recipe
is loaded (its doc says from what), so a loaded `Recipe` holds no `None` except `weights.init` ("none").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from ..data.formats import READERS
from ..defaults import (
    BENCH_DEVICES,
    DEFAULT_INPUT_SIZE,
    NMS_IOU_THRESHOLD,
    NMS_KEEP_TOP_K,
    NMS_SCORE_THRESHOLD,
    NMS_TOP_K,
    SIZE_MULTIPLE,
)
from ..errors import PicodetError
from ..export.formats import DEFAULT_OPSET, FORMAT_NAMES, POSTPROCESS_MODES, TARGETS


class RecipeError(PicodetError):
    """A recipe that cannot be read, does not fit the schema, or points at something missing."""


STAGES = ("train", "eval", "quantize", "export", "bench")
DATA_FORMATS = tuple(READERS)  # the data layer's table of readers is the one list of formats
FORMAT_CHOICES = (*FORMAT_NAMES, "all")  # the export format table is the one source of names
COCO_LAYOUT = {
    "train_images": "train2017",
    "train_annotations": "annotations/instances_train2017.json",
    "val_images": "val2017",
    "val_annotations": "annotations/instances_val2017.json",
}
VOC_LAYOUT = {  # PaddleDetection's: list files of "image_path xml_path" lines (images unused with a list file)
    "train_images": "JPEGImages",
    "train_annotations": "trainval.txt",
    "val_images": "JPEGImages",
    "val_annotations": "test.txt",
}
YOLO_LAYOUT = {  # Ultralytics': the data.yaml's `train` / `val` entries (or a folder / list file of images)
    "train_images": "train",
    "train_annotations": "data.yaml",
    "val_images": "val",
    "val_annotations": "data.yaml",
}
LAYOUTS = {"coco": COCO_LAYOUT, "voc": VOC_LAYOUT, "yolo": YOLO_LAYOUT}


def rules(
    doc: str,
    *,
    choices: tuple[str, ...] = (),
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    multiple_of: int | None = None,
    nonempty: bool = False,
) -> dict[str, Any]:
    """Field metadata: the key's documentation and the rules a user value (or each item of a list) must satisfy."""
    limits = {"ge": ge, "gt": gt, "le": le, "lt": lt, "multiple_of": multiple_of, "choices": choices}
    return {"doc": doc, "nonempty": nonempty, **{name: rule for name, rule in limits.items() if rule not in (None, ())}}


@dataclass(frozen=True)
class ModelSection:
    arch: str = field(
        default="", metadata=rules("zoo model name/alias (s-416) or architecture name (picodet-s); required")
    )
    num_classes: int = field(
        default=None,
        metadata=rules("number of classes; default: len(data.classes) if given, else the zoo model's (80)", ge=1),
    )
    input_size: int = field(
        default=None,
        metadata=rules(
            f"square input size in pixels; default: the zoo model's, else {DEFAULT_INPUT_SIZE}",
            ge=SIZE_MULTIPLE,
            multiple_of=SIZE_MULTIPLE,
        ),
    )


@dataclass(frozen=True)
class WeightsSection:
    init: str | None = field(
        default="none", metadata=rules('initial weights: zoo name, checkpoint path, http(s) URL, or "none"')
    )
    strict: bool = field(
        default=False,
        metadata=rules("require every checkpoint tensor to fit (false re-initialises layers that do not)"),
    )


@dataclass(frozen=True)
class DataSection:
    format: str = field(default="coco", metadata=rules("annotation format", choices=DATA_FORMATS))
    root: Path = field(default=".", metadata=rules("dataset folder, relative to the recipe file that sets it"))
    train_images: Path = field(
        default=None, metadata=rules("training images folder, relative to root (YOLO: a data.yaml split name too)")
    )
    train_annotations: Path = field(
        default=None,
        metadata=rules("training annotations, relative to root (COCO json; VOC list file or XML folder; data.yaml)"),
    )
    val_images: Path = field(default=None, metadata=rules("validation images folder, relative to root"))
    val_annotations: Path = field(default=None, metadata=rules("validation annotations, relative to root"))
    classes: list[str] = field(
        default_factory=list,
        metadata=rules("class names in id order; required for VOC, checked against COCO categories / YOLO names"),
    )


@dataclass(frozen=True)
class TrainSection:
    epochs: int = field(default=300, metadata=rules("training epochs", ge=1))
    batch_size: int = field(
        default=80, metadata=rules("images per device per step (the total batch is batch_size x devices)", ge=1)
    )
    lr: float = field(default=0.4, metadata=rules("base learning rate (the original: 0.4 at 4 x 80 images)", gt=0))
    warmup_steps: int = field(default=300, metadata=rules("linear warm-up iterations", ge=0))
    warmup_start_factor: float = field(default=0.1, metadata=rules("warm-up starts at lr x this factor", ge=0, le=1))
    cosine_epochs: int = field(
        default=None, metadata=rules("length of the cosine schedule (the original's max_epochs); default: epochs", ge=1)
    )
    momentum: float = field(default=0.9, metadata=rules("SGD momentum", ge=0, lt=1))
    weight_decay: float = field(default=4e-5, metadata=rules("L2 weight decay", ge=0))
    ema: bool = field(
        default=True, metadata=rules("keep an exponential moving average of the weights (saved and evaluated)")
    )
    ema_decay: float = field(default=0.9998, metadata=rules("EMA decay", gt=0, lt=1))
    ema_cycle_epochs: int = field(default=40, metadata=rules("reset the EMA every this many epochs; 0 = never", ge=0))
    static_assigner_epoch: int = field(
        default=100,
        metadata=rules("v2: ATSS assignment below this epoch, TaskAligned from it (v1's SimOTA ignores it)", ge=0),
    )
    clip_grad_norm: float = field(
        default=0.0, metadata=rules("clip gradients to this global norm; 0 = off (the original)", ge=0)
    )
    eval_interval: int = field(
        default=10,
        metadata=rules("evaluate every this many epochs (and after the last); 0 = only after the last", ge=0),
    )
    save_interval: int = field(
        default=10, metadata=rules("save a checkpoint every this many epochs (and after the last)", ge=1)
    )
    log_interval: int = field(default=20, metadata=rules("log every this many iterations", ge=1))
    workers: int = field(default=4, metadata=rules("data-loading worker processes; 0 = load in the main process", ge=0))
    threads: int = field(
        default=0, metadata=rules("CPU math threads per training process; 0 = the CPU cores / devices", ge=0)
    )
    seed: int = field(default=0, metadata=rules("random seed", ge=0))
    devices: int = field(default=1, metadata=rules("data-parallel processes (GPUs, or CPU processes with gloo)", ge=1))
    time_limit: float = field(
        default=0.0, metadata=rules("minutes; stop cleanly with a checkpoint when reached; 0 = none", ge=0)
    )


@dataclass(frozen=True)
class AugmentSection:
    sizes: list[int] = field(
        default=None,
        metadata=rules(
            "multi-scale training sizes (one per batch); default: input_size -64..+64 step 32",
            ge=SIZE_MULTIPLE,
            multiple_of=SIZE_MULTIPLE,
            nonempty=True,
        ),
    )
    flip: float = field(default=0.5, metadata=rules("horizontal flip probability", ge=0, le=1))
    crop: bool = field(default=True, metadata=rules("SSD-style random crop"))
    distort: bool = field(default=True, metadata=rules("random hue, saturation, contrast and brightness"))
    random_interp: bool = field(
        default=True, metadata=rules("random interpolation when resizing a batch (else bilinear)")
    )


@dataclass(frozen=True)
class EvalSection:
    batch_size: int = field(default=8, metadata=rules("evaluation batch size", ge=1))
    score_threshold: float = field(
        default=NMS_SCORE_THRESHOLD, metadata=rules("drop detections below this score before NMS", ge=0, le=1)
    )
    nms_threshold: float = field(default=NMS_IOU_THRESHOLD, metadata=rules("NMS IoU threshold", ge=0, le=1))
    nms_top_k: int = field(default=NMS_TOP_K, metadata=rules("candidates per class before NMS", ge=1))
    keep_top_k: int = field(default=NMS_KEEP_TOP_K, metadata=rules("detections kept per image", ge=1))


@dataclass(frozen=True)
class OutputSection:
    dir: Path = field(
        default=None, metadata=rules("run folder, relative to the current directory; default: runs/<recipe file stem>")
    )


@dataclass(frozen=True)
class QuantizeSection:
    method: str = field(
        default="ptq",
        metadata=rules("post-training quantization or quantization-aware training", choices=("ptq", "qat")),
    )
    calib_images: int = field(
        default=80, metadata=rules("PTQ: calibration images (taken from the validation set)", ge=1)
    )
    algo: str = field(
        default="hist",
        metadata=rules("PTQ activation calibration", choices=("hist", "kl", "mse", "avg", "abs_max", "emd")),
    )
    hist_percent: float = field(
        default=0.999, metadata=rules("PTQ hist: percentile of the activation histogram kept", gt=0, le=1)
    )
    epochs: int = field(default=5, metadata=rules("QAT: training epochs", ge=1))
    lr: float = field(default=0.001, metadata=rules("QAT: learning rate", gt=0))
    batch_size: int = field(default=8, metadata=rules("calibration (PTQ) or training (QAT) batch size", ge=1))


@dataclass(frozen=True)
class ExportSection:
    formats: list[str] = field(
        default_factory=lambda: ["onnx"],
        metadata=rules('formats to export, or ["all"]', choices=FORMAT_CHOICES, nonempty=True),
    )
    fp16: bool = field(default=False, metadata=rules("store weights in float16 where the format supports it"))
    input_size: int = field(
        default=0, metadata=rules("exported input size; 0 = model.input_size", ge=0, multiple_of=SIZE_MULTIPLE)
    )
    opset: int = field(default=DEFAULT_OPSET, metadata=rules("ONNX opset", ge=7))
    postprocess: str = field(
        default="none",
        metadata=rules(
            "none = raw head outputs, decode = boxes and scores, nms = final detections",
            choices=POSTPROCESS_MODES,
        ),
    )
    target: str = field(default="arm", metadata=rules("Paddle-Lite target (lite format only)", choices=TARGETS))
    dir: Path = field(
        default="",
        metadata=rules('export folder, relative to the current directory; default (""): <output.dir>/export'),
    )
    verify: bool = field(
        default=True, metadata=rules("run each exported file and compare its outputs with the Paddle model")
    )


@dataclass(frozen=True)
class BenchSection:
    formats: list[str] = field(
        default_factory=lambda: ["onnx"],
        metadata=rules('formats to benchmark, or ["all"]', choices=FORMAT_CHOICES, nonempty=True),
    )
    device: str = field(default="cpu", metadata=rules("where to run (bench has no GPU runner)", choices=BENCH_DEVICES))
    threads: int = field(default=2, metadata=rules("CPU threads", ge=1))
    warmup: int = field(default=5, metadata=rules("untimed runs first", ge=0))
    runs: int = field(default=50, metadata=rules("timed runs", ge=1))
    data: bool = field(default=True, metadata=rules("also measure mAP of each format on the validation set"))


SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "weights": WeightsSection,
    "data": DataSection,
    "train": TrainSection,
    "augment": AugmentSection,
    "eval": EvalSection,
    "output": OutputSection,
    "quantize": QuantizeSection,
    "export": ExportSection,
    "bench": BenchSection,
}


def section_fields(section: str) -> dict[str, dataclasses.Field[Any]]:
    """The fields of one section, by key name."""
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}


def raw_default(f: dataclasses.Field[Any]) -> Any:
    """The default a field has before derivation (`None` = derived at load time)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def toml_value(value: Any) -> str:
    """`value` (str, bool, int, float, Path or a list of them) written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def did_you_mean(name: str, options: Sequence[str], what: str) -> str:
    """A did-you-mean hint, else the list of allowed names."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"{what}: {', '.join(options)}"


def check_names(label: str, data: dict[str, Any]) -> None:
    """Unknown sections and keys are errors, with a did-you-mean hint."""
    for section, table in data.items():
        if section not in SECTIONS:
            owners = [s for s in SECTIONS if section in section_fields(s)]
            hint = f"put it under [{owners[0]}]" if owners else did_you_mean(section, list(SECTIONS), "sections")
            raise RecipeError(f"{label}: {section}: unknown section or top-level key", hint)
        if not isinstance(table, dict):
            raise RecipeError(f"{label}: {section}: must be a table", f"write it as [{section}] followed by keys")
        allowed = section_fields(section)
        for name in table:
            if name not in allowed:
                raise RecipeError(
                    f"{label}: {section}.{name}: unknown key", did_you_mean(name, list(allowed), f"keys of [{section}]")
                )


def expected_type(section: str, name: str) -> str:
    """The type a key takes: int, float, bool, str, path, str|None, list[int] or list[str]."""
    hint = get_type_hints(SECTIONS[section])[name]
    return {int: "int", float: "float", bool: "bool", str: "str", Path: "path"}.get(hint, str(hint).replace(" ", ""))


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "path": "a path (string)",
    "str|None": 'a string ("none" for no weights)',
    "list[int]": "a list of integers",
    "list[str]": "a list of strings",
}


def _fits(expected: str, value: Any) -> bool:
    scalar = {"int": int, "float": (int, float), "bool": bool}.get(expected, str)
    if expected.startswith("list"):
        item = int if expected == "list[int]" else str
        return isinstance(value, list) and all(isinstance(v, item) and not isinstance(v, bool) for v in value)
    return isinstance(value, scalar) and (expected == "bool" or not isinstance(value, bool))


_LIMITS = {"ge": (">=", operator.ge), "gt": (">", operator.gt), "le": ("<=", operator.le), "lt": ("<", operator.lt)}


def _rule_problem(meta: dict[str, Any], value: Any) -> tuple[str, str] | None:
    """(problem, hint) when `value` (or an item of it) breaks one of the field's rules."""
    for item in value if isinstance(value, list) else [value]:
        choices = meta.get("choices")
        if choices and item not in choices:
            close = difflib.get_close_matches(str(item), choices, n=1)
            suggestion = f" (did you mean '{close[0]}'?)" if close else ""
            return f"'{item}' is not allowed", f"one of: {', '.join(choices)}{suggestion}"
        if isinstance(item, str):
            continue
        for rule, (sign, holds) in _LIMITS.items():
            if rule in meta and not holds(item, meta[rule]):
                return f"must be {sign} {meta[rule]}, got {item}", f"use a value {sign} {meta[rule]}"
        step = meta.get("multiple_of")
        if step and item % step:
            return f"must be a multiple of {step}, got {item}", f"e.g. {round(item / step) * step or step}"
    return None


def validate(data: dict[str, Any], origins: dict[tuple[str, str], str]) -> None:
    """Check every value's type and rules; `origins` names the file that set each (section, key)."""
    for section, table in data.items():
        fields = section_fields(section)
        for name, value in table.items():
            where = f"{origins[section, name]}: {section}.{name}"
            expected = expected_type(section, name)
            if not _fits(expected, value):
                default = raw_default(fields[name])
                hint = (
                    f"e.g. {name} = {toml_value(default)}"
                    if default not in (None, "", [])
                    else f"{name} takes {_TYPE_WORDS[expected]}"
                )
                raise RecipeError(f"{where}: expected {_TYPE_WORDS[expected]}, got {value!r}", hint)
            if fields[name].metadata["nonempty"] and not value:
                raise RecipeError(f"{where}: must not be empty", "give at least one value, or leave the key out")
            problem = _rule_problem(dict(fields[name].metadata), value)
            if problem:
                raise RecipeError(f"{where}: {problem[0]}", problem[1])
