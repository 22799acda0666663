"""`picodet data check`, and `train` / `eval` straight from a YOLO data.yaml, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app

runner = CliRunner()


def json_of(output: str):
    return json.loads(output[output.find("{") :])


@pytest.fixture
def yolo_set(tmp_path: Path) -> Path:
    """A Roboflow-style export: 4 train and 2 valid images of a bright square on grey, 2 classes."""
    root = tmp_path / "squares"
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("valid", 2)):
        for i in range(count):
            image = np.full((64, 96, 3), 60, np.uint8)
            x, y = int(rng.integers(0, 50)), int(rng.integers(0, 20))
            image[y : y + 40, x : x + 40] = 230
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / "images" / f"{i}.jpg"), image)
            box = f"{i % 2} {(x + 20) / 96:.6f} {(y + 20) / 64:.6f} {40 / 96:.6f} {40 / 64:.6f}\n"
            (root / split / "labels" / f"{i}.txt").write_text(box)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['a', 'b']\n")
    return root


def test_data_check_json_and_table(yolo_set: Path):
    result = runner.invoke(app, ["data", "check", str(yolo_set / "data.yaml"), "--json", "--strict"])
    assert result.exit_code == 0, result.output
    report = json_of(result.stdout)
    assert report["ok"] and report["format"] == "yolo" and [s["split"] for s in report["splits"]] == ["train", "val"]
    train = report["splits"][0]
    assert (train["images"], train["boxes"], train["decoded"]) == (4, 4, 4)
    assert train["boxes_per_class"] == {"a": 2, "b": 2} and train["image_size"]["max_width"] == 96
    table = runner.invoke(app, ["data", "check", str(yolo_set)])
    assert table.exit_code == 0 and "boxes per class" in table.stdout and "ok" in table.stdout


def test_data_check_fails_when_training_would(yolo_set: Path):
    for image in list((yolo_set / "train" / "images").iterdir())[:3]:
        image.write_bytes(b"junk")
    result = runner.invoke(app, ["data", "check", str(yolo_set / "data.yaml")])
    assert result.exit_code == 1
    assert "only 1 of 4 listed images are usable: 3 image size unreadable" in result.output
    missing = runner.invoke(app, ["data", "check", str(yolo_set / "nothing")])
    assert missing.exit_code == 1 and "not a recipe, data.yaml or dataset folder" in missing.output


def test_train_and_eval_from_a_data_yaml(yolo_set: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["model.input_size=64", "augment.sizes=[64]", "train.batch_size=2", "train.epochs=1", "train.workers=0"]
    args = ["train", "--data", str(yolo_set / "data.yaml"), "--model", "s-320", "--json"]
    args += [a for s in [*tiny, "weights.init=none"] for a in ("--set", s)]
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    summary = json_of(trained.stdout)
    run_dir = tmp_path / "runs" / "squares-s-320"
    assert Path(summary["run_dir"]) == run_dir and summary["steps"] == 2
    recipe = (run_dir / "recipe.toml").read_text()
    assert 'format = "yolo"' in recipe and 'arch = "s-320"' in recipe
    scored = runner.invoke(app, ["eval", summary["last_weights"], "--data", str(yolo_set / "data.yaml"), "--json"])
    assert scored.exit_code == 0, scored.output
    assert json_of(scored.stdout)["num_images"] == 2
