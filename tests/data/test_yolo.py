"""YOLO-format datasets: data.yaml as Ultralytics and Roboflow write it, labels, background images, COCO GT."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from picodet_cli.data import records as rec
from picodet_cli.data.index import read_dataset
from picodet_cli.data.records import DatasetError
from picodet_cli.data.report import check_splits, find_splits
from picodet_cli.data.yolo import NO_LABELS, label_path
from picodet_cli.engine.coco_metrics import evaluate_coco, to_coco_results
from picodet_cli.recipe.loader import check_recipe, load_recipe


def _image(path: Path, width: int = 80, height: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 100, np.uint8))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def ultralytics(tmp_path: Path) -> Path:
    """images/{train,val} + labels/{train,val}; names as a dict; a polygon, a background image, bad lines."""
    root = tmp_path / "ds"
    for name in ("a", "b", "bg"):
        _image(root / "images/train" / f"{name}.jpg")
    _image(root / "images/val/v.png")
    _write(root / "labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.2\n")
    _write(root / "labels/train/b.txt", "1 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n7 0.5 0.5 0.1 0.1\n0 0.5\nx 1 2 3 4\n")
    _write(root / "labels/val/v.txt", "0 0.5 0.5 0.5 0.5\n")
    _write(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n")
    return root


def test_ultralytics_layout(ultralytics: Path) -> None:
    index = read_dataset("yolo", ultralytics / "train", ultralytics / "data.yaml", warn=False)
    assert index.class_names == ["cat", "dog"] and [r.path.name for r in index.records] == ["a.jpg", "b.jpg", "bg.jpg"]
    a, b, bg = index.records
    np.testing.assert_allclose(a.boxes, [[20, 10, 60, 30], [16, 6, 24, 14]])
    assert a.classes.tolist() == [0, 1] and (a.width, a.height) == (80, 40)
    np.testing.assert_allclose(b.boxes, [[8, 4, 40, 24]])  # the polygon's bounding box
    assert len(bg.boxes) == 0 and index.notes.counts[NO_LABELS] == 1
    assert index.issues == {rec.UNKNOWN_CLASS: 1, rec.LABEL_LINE: 2}
    train = read_dataset("yolo", ultralytics / "train", ultralytics / "data.yaml", keep_empty=False, warn=False)
    assert len(train) == 2 and train.issues[rec.EMPTY_IMAGE] == 1


def test_coco_gt_from_yolo_evaluates_to_map_one(ultralytics: Path) -> None:
    index = read_dataset("yolo", ultralytics / "val", ultralytics / "data.yaml")
    gt = index.to_coco_gt()
    assert gt["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert gt["annotations"][0]["bbox"] == pytest.approx([20, 10, 40, 20])
    dets = [d for r in index.records for d in to_coco_results(
        r.image_id, np.c_[r.classes, np.ones(len(r.boxes)), r.boxes], index.category_ids)]  # fmt: skip
    result = evaluate_coco(gt, dets)
    assert result.map == pytest.approx(1.0)


def test_roboflow_layout_list_files_and_lists(tmp_path: Path) -> None:
    root = tmp_path / "rf"
    _image(root / "train/images/x.jpg")
    _write(root / "train/labels/x.txt", "0 0.5 0.5 0.2 0.2\n")
    _image(root / "valid/images/y.jpg")
    _image(root / "extra/images/z.jpg")
    _write(root / "lists/val.txt", "../valid/images/y.jpg\n\n")
    text = "train: ../train/images\nval: [lists/val.txt, extra/images]\nnc: 1\nnames: ['thing']\n"
    _write(root / "data.yaml", text)
    assert [r.path.name for r in read_dataset("yolo", root / "train", root / "data.yaml").records] == ["x.jpg"]
    val = read_dataset("yolo", root / "val", root / "data.yaml")
    assert [r.path.name for r in val.records] == ["y.jpg", "z.jpg"]
    assert label_path("/d/images/train/images/q.jpeg") == "/d/images/train/labels/q.txt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: a\n", "names: missing"),
        ("names: {0: a, 2: b}\ntrain: a\n", "ids must be 0..1"),
        ("names: [a]\nnc: 2\ntrain: a\n", "nc is 2 but names lists 1"),
        ("names: [a]\ntrain: nowhere\n", "image source not found"),
        ("names: [a]\n", "no `train` entry"),
        ("[unclosed\n", "not a readable YAML"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path / "data.yaml", text)
    with pytest.raises(DatasetError, match=message):
        read_dataset("yolo", tmp_path / "train", tmp_path / "data.yaml")


def test_yolo_recipe_and_report(ultralytics: Path, tmp_path: Path) -> None:
    recipe = _write(tmp_path / "y.toml", f'[model]\narch = "s-320"\n[data]\nformat = "yolo"\nroot = "{ultralytics}"\n'
                    "[train]\nbatch_size = 2\n")  # fmt: skip
    loaded = load_recipe(recipe)
    assert loaded.model.num_classes == 2 and loaded.data.train_annotations == ultralytics / "data.yaml"
    lines = check_recipe(loaded)
    assert any(line.startswith("data train:") and "2 images, 3 boxes" in line for line in lines)
    data_format, splits = find_splits(ultralytics)
    assert data_format == "yolo" and [s.name for s in splits] == ["train", "val"]
    report = check_splits("ds", data_format, splits)
    train = report.splits[0]
    assert train.boxes_per_class == {"cat": 1, "dog": 2} and train.image_size["max_width"] == 80
    assert train.skipped[rec.EMPTY_IMAGE] == 1 and report.ok
