"""Recipes: inheritance, overrides, validation messages, path resolution, fingerprints, shipped files, checks."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from picodet_cli.recipe.loader import RecipeError, check_recipe, default_recipes_dir, load_recipe, parse_override
from picodet_cli.recipe.schema import SECTIONS, section_fields
from picodet_cli.recipe.starter import starter_recipe, to_toml

REPO = Path(__file__).resolve().parents[2]
MINIMAL = '[model]\narch = "s-416"\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, overrides: tuple[str, ...] = ()) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test from its own folder, so file names in messages are relative and short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------------------------------- inheritance


def test_base_chain_merges_tables_child_wins_lists_replace(tmp_path: Path):
    write(tmp_path / "bases/root.toml", "[train]\nepochs = 10\nlr = 0.1\n[augment]\nsizes = [320, 352]\n[eval]\n")
    write(tmp_path / "bases/mid.toml", 'base = "root.toml"\n[train]\nepochs = 20\nbatch_size = 4\n')
    recipe = load_recipe(write(tmp_path / "r.toml", f'base = "bases/mid.toml"\n{MINIMAL}[augment]\nsizes = [256]\n'))
    assert (recipe.train.epochs, recipe.train.lr, recipe.train.batch_size) == (20, 0.1, 4)
    assert recipe.augment.sizes == [256]
    assert recipe.stages == ["train", "eval"]


@pytest.mark.parametrize(
    ("files", "start"),
    [
        ({"a.toml": 'base = "b.toml"\n' + MINIMAL, "b.toml": 'base = "a.toml"\n'}, "a.toml"),
        ({"self.toml": 'base = "self.toml"\n' + MINIMAL}, "self.toml"),
    ],
)
def test_base_cycle_is_an_error(tmp_path: Path, files: dict[str, str], start: str):
    for name, text in files.items():
        write(tmp_path / name, text)
    error = error_of(tmp_path / start)
    assert "base: inheritance cycle" in error.message and start in error.message


def test_missing_base_names_the_file(tmp_path: Path):
    error = error_of(write(tmp_path / "r.toml", 'base = "nope.toml"\n' + MINIMAL))
    assert error.message.startswith("r.toml: base: 'nope.toml' not found")


# ------------------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train.epochs=10", ("train", "epochs", 10)),
        ("augment.flip=0.25", ("augment", "flip", 0.25)),
        ("train.ema=false", ("train", "ema", False)),
        ("augment.sizes=[256, 288]", ("augment", "sizes", [256, 288])),
        ("augment.sizes=256,288", ("augment", "sizes", [256, 288])),
        ("augment.sizes=256", ("augment", "sizes", [256])),
        ("export.formats=onnx,mnn", ("export", "formats", ["onnx", "mnn"])),
        ('model.arch="s-320"', ("model", "arch", "s-320")),
        ("model.arch=s-320", ("model", "arch", "s-320")),
        ("data.root=/tmp/x", ("data", "root", "/tmp/x")),
    ],
)
def test_parse_override_types_values(text: str, expected: tuple):
    assert parse_override(text) == expected


def test_overrides_apply_last_and_add_stages(tmp_path: Path):
    path = write(tmp_path / "r.toml", MINIMAL + "[train]\nepochs = 300\n")
    recipe = load_recipe(path, ["train.epochs=3", "data.root=/tmp/x", "bench.runs=5", "weights.init=none"])
    assert recipe.train.epochs == 3 and recipe.train.cosine_epochs == 3
    assert recipe.data.train_images == Path("/tmp/x/train2017")
    assert recipe.stages == ["train", "bench"] and recipe.bench.runs == 5 and recipe.weights.init is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs", "--set: 'train.epochs': expected section.key=value"),
        ("epochs=3", "--set: 'epochs=3': expected section.key=value"),
        ("train.epoch=3", "--set: train.epoch: unknown key"),
        ("train.epochs=ten", "--set: train.epochs: expected an integer, got 'ten'"),
    ],
)
def test_bad_override_says_set(tmp_path: Path, override: str, message: str):
    assert error_of(write(tmp_path / "r.toml", MINIMAL), (override,)).message == message


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("[train]\nbatch_sze = 4\n", "r.toml: train.batch_sze: unknown key", "did you mean 'batch_size'?"),
        ("[trian]\nepochs = 4\n", "r.toml: trian: unknown section or top-level key", "did you mean 'train'?"),
        ('arch = "s-416"\n', "r.toml: arch: unknown section or top-level key", "put it under [model]"),
        ("train = 3\n", "r.toml: train: must be a table", "write it as [train] followed by keys"),
        ('[train]\nepochs = "ten"\n', "r.toml: train.epochs: expected an integer, got 'ten'", "e.g. epochs = 300"),
        ("[train]\nepochs = true\n", "r.toml: train.epochs: expected an integer, got True", "e.g. epochs = 300"),
        ("[augment]\ncrop = 1\n", "r.toml: augment.crop: expected true or false, got 1", "e.g. crop = true"),
        ('[data]\nformat = "yml"\n', "r.toml: data.format: 'yml' is not allowed", "one of: coco, voc, yolo"),
        (
            '[export]\nformats = ["onnx", "onx"]\n',
            "r.toml: export.formats: 'onx' is not allowed",
            "did you mean 'onnx'",
        ),
        ("[export]\nformats = []\n", "r.toml: export.formats: must not be empty", "at least one"),
        ("[augment]\nsizes = []\n", "r.toml: augment.sizes: must not be empty", "leave the key out"),
        ("[train]\nbatch_size = 0\n", "r.toml: train.batch_size: must be >= 1, got 0", "use a value >= 1"),
        ("[augment]\nflip = 1.5\n", "r.toml: augment.flip: must be <= 1, got 1.5", "use a value <= 1"),
        ("[train]\nmomentum = 1\n", "r.toml: train.momentum: must be < 1, got 1", "use a value < 1"),
        ("[augment]\nsizes = [256, 300]\n", "r.toml: augment.sizes: must be a multiple of 32, got 300", "e.g. 288"),
        ('[data]\nclasses = ["a", 1]\n', "r.toml: data.classes: expected a list of strings", "classes takes a list"),
    ],
)
def test_schema_errors_name_file_key_and_fix(tmp_path: Path, text: str, message: str, hint: str):
    content = MINIMAL + text if text.startswith("[") else text + MINIMAL
    error = error_of(write(tmp_path / "r.toml", content))
    assert error.message.startswith(message) and hint in (error.hint or "")


def test_error_names_the_base_file_that_set_the_value(tmp_path: Path):
    write(tmp_path / "base.toml", "[train]\nlr = -1.0\n")
    error = error_of(write(tmp_path / "child.toml", 'base = "base.toml"\n' + MINIMAL))
    assert error.message == "base.toml: train.lr: must be > 0, got -1.0"


def test_invalid_toml_gives_line_and_column(tmp_path: Path):
    error = error_of(write(tmp_path / "r.toml", MINIMAL + "[train]\nepochs = \n"))
    assert re.match(r"r\.toml: line 4, column \d+: invalid TOML: ", error.message)


def test_missing_file_suggests_recipe_new(tmp_path: Path):
    error = error_of(tmp_path / "nope.toml")
    assert error.message == "nope.toml: file not found" and "picodet recipe new" in error.hint


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("[train]\nepochs = 3\n", "r.toml: model.arch: missing (required)", "picodet zoo"),
        ('[model]\narch = "s-415"\n', "r.toml: model.arch: unknown model or architecture 's-415'", "'s-416'"),
        (MINIMAL + 'num_classes = 3\n[data]\nclasses = ["a"]\n', "r.toml: model.num_classes: 3 but", "remove"),
        (MINIMAL + '[data]\nformat = "voc"\n', "r.toml: data.classes: required for VOC data", "id order"),
        (MINIMAL + '[data]\nclasses = ["a", "a"]\n', "r.toml: data.classes: class names must be unique", ""),
    ],
)
def test_model_and_class_errors(tmp_path: Path, text: str, message: str, hint: str):
    error = error_of(write(tmp_path / "r.toml", text))
    assert error.message.startswith(message) and hint in (error.hint or "")


# ------------------------------------------------------------------------------------------- resolution


def test_derived_defaults(tmp_path: Path):
    zoo_model = load_recipe(write(tmp_path / "a.toml", MINIMAL))
    assert (zoo_model.model.num_classes, zoo_model.model.input_size) == (80, 416)
    assert zoo_model.augment.sizes == [352, 384, 416, 448, 480] and zoo_model.export.input_size == 416
    assert zoo_model.train.cosine_epochs == 300 and zoo_model.weights.init is None and zoo_model.stages == []
    arch = load_recipe(write(tmp_path / "b.toml", '[model]\narch = "picodet-s"\n[data]\nclasses = ["x", "y"]\n'))
    assert (arch.model.num_classes, arch.model.input_size) == (2, 320)
    assert arch.augment.sizes == [256, 288, 320, 352, 384]
    assert isinstance(arch.train.lr, float) and isinstance(arch.train.time_limit, float)


def test_paths_resolve_data_against_recipe_outputs_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path / "cfg/base/data.toml", '[data]\nroot = "../../datasets/coco"\nval_images = "/abs/val"\n')
    write(tmp_path / "cfg/ckpt.pdparams", "")
    path = write(
        tmp_path / "cfg/r.toml",
        f'base = "base/data.toml"\n{MINIMAL}[weights]\ninit = "ckpt.pdparams"\n[output]\ndir = "out"\n',
    )
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    recipe = load_recipe("../cfg/r.toml")
    assert recipe.path == path
    assert recipe.data.root == tmp_path / "datasets/coco"
    assert recipe.data.train_annotations == tmp_path / "datasets/coco/annotations/instances_train2017.json"
    assert recipe.data.val_images == Path("/abs/val")
    assert recipe.weights.init == str(tmp_path / "cfg/ckpt.pdparams")
    assert recipe.output.dir == work / "out" and recipe.export.dir == work / "out/export"
    default = load_recipe(path, ["output.dir=" + str(tmp_path / "o"), "export.dir=exp", "data.root=d"])
    assert default.output.dir == tmp_path / "o" and default.export.dir == work / "exp"
    assert default.data.root == work / "d"


def test_default_root_is_the_recipe_folder_and_output_is_runs_stem(tmp_path: Path):
    recipe = load_recipe(write(tmp_path / "sub/my-run.toml", MINIMAL))
    assert recipe.data.root == tmp_path / "sub" and recipe.data.val_images == tmp_path / "sub/val2017"
    assert recipe.output.dir == tmp_path / "runs/my-run"


@pytest.mark.parametrize("init", ["s-320", "picodet_s_320_coco", "https://example.com/w.pdparams"])
def test_zoo_names_and_urls_are_kept(tmp_path: Path, init: str):
    assert load_recipe(write(tmp_path / "r.toml", MINIMAL + f'[weights]\ninit = "{init}"\n')).weights.init == init


def test_recipe_is_frozen_and_serialisable(tmp_path: Path):
    recipe = load_recipe(write(tmp_path / "r.toml", MINIMAL + "[train]\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.train.epochs = 1  # type: ignore[misc]
    values = recipe.to_dict()
    assert list(values) == list(SECTIONS) and json.loads(json.dumps(values)) == values
    again = load_recipe(write(tmp_path / "resolved.toml", to_toml(values)))
    assert again.to_dict() == values


def test_fingerprints_are_stable_and_follow_values(tmp_path: Path):
    path = write(tmp_path / "r.toml", MINIMAL + "[train]\n")
    one, two = load_recipe(path), load_recipe(path)
    assert one.fingerprint("train") == two.fingerprint("train")
    assert re.fullmatch(r"[0-9a-f]{64}", one.fingerprint("train"))
    changed = load_recipe(path, ["train.lr=0.2"])
    assert changed.fingerprint("train") != one.fingerprint("train")
    assert changed.fingerprint("export") == one.fingerprint("export")
    assert changed.fingerprint("model", "train") != one.fingerprint("model", "train")
    assert one.fingerprint() != changed.fingerprint()
    with pytest.raises(ValueError, match="trian"):
        one.fingerprint("trian")


# ------------------------------------------------------------------------------------------- shipped files

SHIPPED = sorted(p for p in default_recipes_dir().glob("*.toml") if not p.name.startswith("_"))
ORIGINAL = {  # PICODET_SPEC.md 6.1: epochs, batch per GPU, base lr
    "s-320": (300, 128, 0.4),
    "m-320": (300, 128, 0.4),
    "s-416": (300, 80, 0.4),
    "m-416": (300, 80, 0.4),
    "shufflenetv2-1x-416": (300, 80, 0.4),
    "lcnet-1.5x-416": (300, 80, 0.4),
    "l-320": (250, 56, 0.3),
    "l-416": (250, 48, 0.3),
    "l-640": (250, 32, 0.3),
    "mobilenetv3-large-1x-416": (180, 56, 0.3),
}


def test_bundled_recipes_folder_is_the_source_one():
    assert default_recipes_dir() == REPO / "recipes"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_recipe_loads_and_checks(path: Path):
    recipe = load_recipe(path)
    lines = check_recipe(recipe, check_data=False)
    assert lines[0].startswith(f"model: {recipe.model.arch}")


@pytest.mark.parametrize("model", sorted(ORIGINAL))
def test_coco_recipes_reproduce_the_original(model: str):
    recipe = load_recipe(default_recipes_dir() / f"{model}-coco.toml")
    train = recipe.train
    assert (train.epochs, train.batch_size, train.lr) == ORIGINAL[model]
    assert (train.cosine_epochs, train.warmup_steps, train.warmup_start_factor, train.devices) == (300, 300, 0.1, 4)
    assert (train.momentum, train.weight_decay, train.ema_decay, train.ema_cycle_epochs) == (0.9, 4e-5, 0.9998, 40)
    size = recipe.model.input_size
    assert recipe.augment.sizes == [size - 64, size - 32, size, size + 32, size + 64]
    assert recipe.model.num_classes == 80 and recipe.data.format == "coco" and recipe.stages == ["train", "eval"]


def test_demo_recipe_runs_every_stage(tmp_path: Path):
    recipe = load_recipe(default_recipes_dir() / "demo.toml", [f"data.root={tmp_path}"])
    assert recipe.stages == ["train", "eval", "quantize", "export", "bench"]
    assert (recipe.model.arch, recipe.model.input_size, recipe.model.num_classes) == ("picodet-s", 256, 4)
    assert recipe.data.classes == ["circle", "square", "triangle", "star"]
    assert recipe.data.train_annotations == tmp_path / "train/annotations.json"
    assert recipe.augment.sizes == [256] and not recipe.augment.crop and not recipe.augment.distort
    assert recipe.quantize.method == "ptq" and recipe.export.formats == ["all"]


def test_export_recipes_have_only_model_weights_export():
    for name in ("export-lite-arm-fp16", "export-openvino-fp16", "export-onnx-server"):
        recipe = load_recipe(default_recipes_dir() / f"{name}.toml")
        assert recipe.stages == ["export"] and recipe.weights.init == recipe.model.arch


# ------------------------------------------------------------------------------------------- checking


def tiny_jpeg(path: Path, width: int = 64, height: int = 48) -> Path:
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))
    return path


def coco_dataset(root: Path, classes: list[str], images: int = 2) -> Path:
    """A tiny COCO split under root/train: 64x48 images."""
    (root / "train/images").mkdir(parents=True, exist_ok=True)
    entries, annotations = [], []
    for i in range(images):
        tiny_jpeg(root / f"train/images/{i}.jpg")
        entries.append({"id": i + 1, "file_name": f"{i}.jpg", "width": 64, "height": 48})
        annotations.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [4, 4, 20, 20], "iscrowd": 0})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    text = json.dumps({"images": entries, "annotations": annotations, "categories": categories})
    write(root / "train/annotations.json", text)
    return root


def data_recipe(tmp_path: Path, extra: str = "") -> Path:
    return write(
        tmp_path / "r.toml",
        f'[model]\narch = "picodet-s"\n[data]\nroot = "ds"\ntrain_images = "train/images"\n'
        f'train_annotations = "train/annotations.json"\nval_images = "train/images"\n'
        f'val_annotations = "train/annotations.json"\nclasses = ["a", "b"]\n[train]\nbatch_size = 2\n{extra}',
    )


def test_check_reads_the_dataset(tmp_path: Path):
    coco_dataset(tmp_path / "ds", ["a", "b"])
    lines = check_recipe(load_recipe(data_recipe(tmp_path)))
    assert lines[0] == "model: picodet-s, 320 px, 2 classes"
    assert any(line.startswith("data train: ") and "2 images" in line for line in lines)
    assert any(line.startswith("data val: ") for line in lines)
    assert lines[-2:] == ["stages: train", "output: runs/r"]


def test_training_index_is_the_train_split_and_none_without_one(tmp_path: Path):
    from picodet_cli.recipe.loader import training_index

    coco_dataset(tmp_path / "ds", ["a", "b"], images=3)
    index = training_index(load_recipe(data_recipe(tmp_path)))
    assert len(index) == 3 and index.class_names == ["a", "b"]
    no_train = write(tmp_path / "v.toml", '[model]\narch = "picodet-s"\n[data]\nroot = "ds"\nclasses = ["a", "b"]\n')
    assert training_index(load_recipe(no_train)) is None


@pytest.mark.parametrize(
    ("extra", "overrides", "message"),
    [
        ("", ["data.classes=a,c"], "r.toml: data.train_annotations: classes do not match annotations.json"),
        ("", ["data.classes=[]"], "r.toml: model.num_classes: 80, but annotations.json has 2 classes"),
        ("", ["data.val_annotations=nope.json"], "r.toml: data.val_annotations: not found"),
        ("devices = 2\n", [], "r.toml: train.batch_size: 2 x 2 device(s) is more than the 2 training"),
        ('[weights]\ninit = "s-416.pdparams"\n', [], "r.toml: weights.init: no zoo model or file"),
        ('[weights]\ninit = "s-416"\nstrict = true\n', [], "r.toml: weights.strict: s-416 has 80 classes"),
    ],
)
def test_check_stops_at_the_first_problem(tmp_path: Path, extra: str, overrides: list[str], message: str):
    coco_dataset(tmp_path / "ds", ["a", "b"])
    with pytest.raises(RecipeError) as info:
        check_recipe(load_recipe(data_recipe(tmp_path, extra), overrides))
    assert info.value.message.startswith(message)


def test_check_reads_a_voc_list_file_without_an_image_folder(tmp_path: Path):
    xml = "<annotation><filename>0.jpg</filename><size><width>64</width><height>48</height></size>{}</annotation>"
    obj = "<object><name>{}</name><bndbox><xmin>4</xmin><ymin>4</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object>"
    for i, name in enumerate(["cat", "dog"]):
        write(tmp_path / f"voc/xml/{i}.xml", xml.format(obj.format(name)))
        tiny_jpeg(tmp_path / f"voc/img/{i}.jpg")
    write(tmp_path / "voc/trainval.txt", "img/0.jpg xml/0.xml\nimg/1.jpg xml/1.xml\n")
    write(tmp_path / "voc/test.txt", "img/1.jpg xml/1.xml\n")
    text = '[model]\narch = "s-320"\n[data]\nformat = "voc"\nroot = "voc"\nclasses = ["cat", "dog"]\n'
    lines = check_recipe(load_recipe(write(tmp_path / "r.toml", text + "[train]\nbatch_size = 2\n")))
    assert any(line.startswith("data train: ") and "2 images" in line for line in lines)
    assert any(line.startswith("data val: ") and "1 images" in line for line in lines)


@pytest.mark.parametrize(
    ("export", "problem"),
    [
        ('formats = ["ncnn"]\npostprocess = "nms"', "format 'ncnn' cannot honour --postprocess nms"),
        ('formats = ["paddle"]\nfp16 = true', "format 'paddle' cannot honour --fp16"),
    ],
)
def test_check_export_flags_against_the_format_table(tmp_path: Path, export: str, problem: str):
    recipe = load_recipe(write(tmp_path / "r.toml", f"{MINIMAL}[export]\n{export}\n"))
    with pytest.raises(RecipeError) as info:
        check_recipe(recipe)
    assert info.value.message == f"r.toml: export.formats: {problem}"


def test_check_lists_the_export_formats(tmp_path: Path):
    recipe = load_recipe(write(tmp_path / "r.toml", f'{MINIMAL}[export]\nformats = ["all"]\nfp16 = true\n'))
    (line,) = [line for line in check_recipe(recipe) if line.startswith("export: ")]
    assert "paddle" not in line and "onnx" not in line and "openvino" in line and line.endswith("-> runs/r/export")


def test_check_without_data_skips_the_dataset(tmp_path: Path):
    recipe = load_recipe(data_recipe(tmp_path))
    with pytest.raises(RecipeError, match=r"data\.root: folder not found"):
        check_recipe(recipe)
    assert not any(line.startswith("data") for line in check_recipe(recipe, check_data=False))


# ------------------------------------------------------------------------------------------- starter, docs


@pytest.mark.parametrize(("model", "fmt"), [("s-416", "coco"), ("picodet-m", "voc"), ("l-640", "coco")])
def test_starter_recipe_loads(tmp_path: Path, model: str, fmt: str):
    path = tmp_path / "new.toml"
    write(path, starter_recipe(model, fmt, path))
    recipe = load_recipe(path)
    assert recipe.model.arch == model and recipe.data.format == fmt and recipe.stages == ["train", "eval"]
    uncommented = re.sub(r"^# (?=\[|(?!base )\w+ = )", "", path.read_text(), flags=re.M)
    assert load_recipe(write(tmp_path / "all.toml", uncommented)).stages == [
        "train",
        "eval",
        "quantize",
        "export",
        "bench",
    ]


def test_docs_describe_every_key():
    docs = (REPO / "docs/recipes.md").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"[{section}]" in docs
        for name in section_fields(section):
            assert f"`{name}`" in docs, f"{section}.{name} is not documented"


def test_loading_a_recipe_imports_nothing_heavy():
    code = (
        "import sys; from picodet_cli.recipe.loader import load_recipe, check_recipe; import picodet_cli.cli.recipe\n"
        f"check_recipe(load_recipe({str(default_recipes_dir() / 'demo.toml')!r}), check_data=False)\n"
        "print([m for m in ('numpy', 'paddle', 'cv2') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"
