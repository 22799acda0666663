"""`predict_images`: one predictions.json schema; nothing written when no image could be read."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.predict.batch import predict_images
from picodet_cli.predict.predictor import Detector


@pytest.fixture(scope="module")
def detector() -> Detector:
    """A real, randomly initialised PicoDet-S at 64 px (4 classes): nothing above the 0.5 threshold."""
    from picodet_cli.models.registry import build_model

    return Detector(build_model("picodet-s", num_classes=4, input_size=64), class_names=["a", "b", "c", "d"])


def test_schema_and_skipped_files(detector: Detector, tmp_path: Path):
    good = tmp_path / "a.png"
    cv2.imwrite(str(good), np.zeros((20, 30, 3), np.uint8))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"not an image")
    seen: list[str] = []
    run = predict_images(detector, [good, bad], tmp_path / "out", "m", on_skip=lambda p, m: seen.append(p.name))
    saved = json.loads(run.path.read_text())
    found = saved["predictions"][0]["detections"]
    assert saved == {
        "model": "m", "score_threshold": 0.5,
        "predictions": [{"image": str(good), "width": 30, "height": 20, "detections": found,
                         "output": str(tmp_path / "out" / "a.png")}],
        "skipped": [{"image": str(bad), "error": saved["skipped"][0]["error"]}],
    }  # fmt: skip
    assert seen == ["b.jpg"] and (tmp_path / "out" / "a.png").is_file()


def test_only_unreadable_files_is_an_error_and_writes_nothing(detector: Detector, tmp_path: Path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(PicodetError, match=r"no image could be read \(notes.png\)"):
        predict_images(detector, [bad], tmp_path / "out", "m")
    assert not (tmp_path / "out" / "predictions.json").exists()
