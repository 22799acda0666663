"""The generated shapes dataset: deterministic, valid COCO, reused when complete, redone when not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.data.index import read_dataset
from picodet_cli.data.synthetic import STAMP, generate_shapes_dataset
from picodet_cli.data.transforms import read_image
from picodet_cli.engine.coco_metrics import evaluate_coco, to_coco_results
from picodet_cli.errors import PicodetError

SMALL = {"num_train": 6, "num_val": 3, "image_size": 256, "seed": 3}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"
    }


def test_deterministic_and_reused(tmp_path: Path) -> None:
    first = generate_shapes_dataset(tmp_path / "a", **SMALL)
    generate_shapes_dataset(tmp_path / "b", **SMALL)
    snap = _snapshot(tmp_path / "a")
    assert snap == _snapshot(tmp_path / "b") and len(snap) == 6 + 3 + 3
    image = first.train_images / "000000.jpg"
    image.write_bytes(b"changed")  # a complete stamp means: reuse, do not redraw
    assert generate_shapes_dataset(tmp_path / "a", **SMALL) == first and image.read_bytes() == b"changed"
    other = generate_shapes_dataset(tmp_path / "a", **{**SMALL, "seed": 4})  # other parameters: redrawn
    assert other.train_annotations.read_bytes() != snap["train/annotations.json"]
    assert json.loads((tmp_path / "a" / STAMP).read_text())["seed"] == 4
    (other.val_images / "000001.jpg").unlink()  # a file gone: redrawn too
    generate_shapes_dataset(tmp_path / "a", **{**SMALL, "seed": 4})
    assert (other.val_images / "000001.jpg").is_file()
    with pytest.raises(PicodetError, match="invalid shape classes"):
        generate_shapes_dataset(tmp_path / "c", classes=("hexagon",))


def test_interrupted_generation_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from picodet_cli.data import synthetic

    calls = {"n": 0}
    real = synthetic._write_split

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "_write_split", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_shapes_dataset(tmp_path, **SMALL)
    assert not (tmp_path / STAMP).exists()
    monkeypatch.setattr(synthetic, "_write_split", real)
    data = generate_shapes_dataset(tmp_path, **SMALL)
    assert data.val_annotations.is_file() and (tmp_path / STAMP).is_file()


def test_valid_coco_with_tight_boxes(tmp_path: Path) -> None:
    data = generate_shapes_dataset(tmp_path, **SMALL)
    index = read_dataset("coco", data.val_images, data.val_annotations, data.class_names)
    assert len(index) == 3 and not index.issues and index.class_names == ["circle", "square", "triangle", "star"]
    dets = []
    for rec in index.records:
        assert 1 <= len(rec.boxes) <= 4
        sides = rec.boxes[:, 2:] - rec.boxes[:, :2]
        assert (sides >= 16).all() and (sides <= 120).all()
        image = read_image(rec.path)
        assert image.shape == (256, 256, 3)
        rows = np.concatenate([rec.classes[:, None], np.ones((len(rec.boxes), 1)), rec.boxes], axis=1)
        dets += to_coco_results(rec.image_id, rows, index.category_ids)
    result = evaluate_coco(index.to_coco_gt(), dets)
    assert result.map == pytest.approx(1.0)
