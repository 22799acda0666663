"""COCO evaluation: reference numbers, both backends, empty and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from picodet_cli.engine.coco_metrics import STAT_NAMES, EvalResult, evaluate_coco, to_coco_results
from picodet_cli.errors import PicodetError

# EXPECTED.md: instances_val2014_100.json + instances_val2014_fakebbox100_results.json
EXPECTED = [
    0.5045806987249628, 0.6969727247299577, 0.5729816669904824, 0.5856257209410443, 0.5193996948036719,
    0.5013978986347466, 0.38681277964578054, 0.5936795762842003, 0.595352982877607, 0.6398109626113442,
    0.5664205978994309, 0.5642905982905982,
]  # fmt: skip


@pytest.fixture(scope="module")
def coco_dir(coco_eval_dir: Path) -> Path:
    return coco_eval_dir


@pytest.fixture(scope="module")
def gt_path(coco_dir: Path) -> Path:
    return coco_dir / "instances_val2014_100.json"


@pytest.fixture(scope="module")
def dt_path(coco_dir: Path) -> Path:
    return coco_dir / "instances_val2014_fakebbox100_results.json"


@pytest.fixture(scope="module")
def results(gt_path: Path, dt_path: Path) -> dict[bool, EvalResult]:
    return {fast: evaluate_coco(gt_path, dt_path, per_class=True, use_fast=fast) for fast in (True, False)}


@pytest.mark.parametrize("use_fast", [True, False])
def test_reference_stats(results: dict[bool, EvalResult], use_fast: bool) -> None:
    result = results[use_fast]
    np.testing.assert_allclose(result.stats, EXPECTED, rtol=0, atol=1e-12)
    assert [getattr(result, name) for name in STAT_NAMES] == result.stats
    assert (result.num_images, result.num_detections) == (100, 734)
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505" in result.summary_text


def test_backends_agree_per_class(results: dict[bool, EvalResult]) -> None:
    fast, reference = results[True].per_class, results[False].per_class
    assert fast is not None and reference is not None and len(fast) == 80
    assert fast.keys() == reference.keys() and "person" in fast
    np.testing.assert_allclose(list(fast.values()), list(reference.values()), rtol=0, atol=1e-12)
    assert all(v == -1.0 or 0.0 <= v <= 1.0 for v in fast.values())


def test_quiet_and_does_not_mutate_inputs(gt_path: Path, dt_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = json.loads(gt_path.read_text())
    detections = json.loads(dt_path.read_text())
    before = (json.dumps(dataset), json.dumps(detections))
    result = evaluate_coco(dataset, detections)
    assert result.per_class is None
    np.testing.assert_allclose(result.stats, EXPECTED, rtol=0, atol=1e-12)
    assert (json.dumps(dataset), json.dumps(detections)) == before
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("use_fast", [True, False])
def test_empty_detections(gt_path: Path, use_fast: bool) -> None:
    result = evaluate_coco(gt_path, [], per_class=True, use_fast=use_fast)
    assert result.stats == [0.0] * 12 and result.num_detections == 0 and result.num_images == 100
    assert result.per_class is not None and set(result.per_class.values()) <= {0.0, -1.0}


def _one_image_dataset() -> dict[str, Any]:
    """One 200x200 image with one large box: the small and medium ranges have no ground truth."""
    box = {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 10, 120, 100], "area": 12000, "iscrowd": 0}
    return {
        "images": [{"id": 7, "width": 200, "height": 200}],
        "categories": [{"id": 3, "name": "car"}, {"id": 5, "name": "bus"}],
        "annotations": [box],
    }


@pytest.mark.parametrize("use_fast", [True, False])
def test_missing_ranges_are_minus_one(use_fast: bool) -> None:
    bbox = np.array([[0, 0.9, 10, 10, 130, 110]], np.float32)  # class 0 → category 3, a perfect box
    result = evaluate_coco(_one_image_dataset(), to_coco_results(7, bbox, [3, 5]), per_class=True, use_fast=use_fast)
    assert (result.map, result.map50, result.map_large, result.ar100) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert (result.map_small, result.map_medium, result.ar_small, result.ar_medium) == (-1.0, -1.0, -1.0, -1.0)
    assert result.per_class == pytest.approx({"car": 1.0, "bus": -1.0})


def test_to_coco_results_converts_to_xywh() -> None:
    bbox = np.array([[1, 0.75, 10.5, 20, 30.5, 60], [0, 0.5, 0, 0, 1, 2]], np.float32)
    assert to_coco_results(42, bbox, [18, 3]) == [
        {"image_id": 42, "category_id": 3, "bbox": [10.5, 20.0, 20.0, 40.0], "score": 0.75},
        {"image_id": 42, "category_id": 18, "bbox": [0.0, 0.0, 1.0, 2.0], "score": 0.5},
    ]
    assert to_coco_results(1, np.zeros((0, 6), np.float32), [1]) == []
    with pytest.raises(PicodetError, match="class index 2 has no category id"):
        to_coco_results(1, np.array([[2, 0.5, 0, 0, 1, 1]], np.float32), [1, 2])


def _error(annotations: Any, detections: Any) -> PicodetError:
    with pytest.raises(PicodetError) as info:
        evaluate_coco(annotations, detections)
    assert info.value.hint and "\n" not in str(info.value)
    return info.value


def test_bad_inputs_raise_clear_errors(tmp_path: Path, gt_path: Path) -> None:
    assert "annotation file not found" in _error(tmp_path / "missing.json", []).message
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert "cannot read annotation file" in _error(garbage, []).message
    garbage.write_text(json.dumps({"images": []}))
    assert "not a COCO instances file (missing annotations, categories)" in _error(garbage, []).message
    garbage.write_text(json.dumps({"images": [{"id": 1}], "annotations": [{"id": 1}], "categories": []}))
    assert "an entry of annotations lacks one of id, image_id" in _error(garbage, []).message
    assert "detections file not found" in _error(gt_path, tmp_path / "missing.json").message
    assert "not a list" in _error(gt_path, {"image_id": 1}).message
    assert "not a COCO bbox result" in _error(gt_path, [{"image_id": 42, "bbox": [1, 2, 3]}]).message
    unknown_image = [{"image_id": 123456789, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]
    assert "image id 123456789, which is not in the annotations" in _error(gt_path, unknown_image).message
    unknown_category = [{"image_id": 42, "category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.5}]
    assert "category id 0, which is not in the annotations" in _error(gt_path, unknown_category).message


def test_pr_curves_and_confusion_matrix_from_the_public_fixture(gt_path: Path, dt_path: Path):
    from picodet_cli.engine.coco_metrics import RECALL_POINTS
    from picodet_cli.engine.confusion import confusion_matrix

    result = evaluate_coco(gt_path, dt_path, curves=True)
    assert result.pr_curves is not None and len(result.pr_curves) == 80
    with_gt = [np.asarray(p) for p in result.pr_curves.values() if min(p) > -1]
    assert all(len(p) == len(RECALL_POINTS) for p in with_gt)
    assert np.mean([p.mean() for p in with_gt]) == pytest.approx(EXPECTED[1], abs=1e-9), "the curves' mean is AP50"
    gt = json.loads(gt_path.read_text())
    names, matrix = confusion_matrix(gt, json.loads(dt_path.read_text()), score_threshold=0.0)
    assert len(names) == 80 and matrix.shape == (81, 81)
    crowd = sum(1 for a in gt["annotations"] if a.get("iscrowd"))
    assert matrix[:, :80].sum() == len(gt["annotations"]) - crowd, "every ground-truth box is counted once"
    assert np.trace(matrix[:80, :80]) > matrix[:80, :80].sum() / 2, "the fake detections are mostly right"


def test_confusion_matrix_by_hand():
    from picodet_cli.engine.confusion import confusion_matrix

    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 7, "name": "a"}, {"id": 9, "name": "b"}],
        "annotations": [{"image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10]},
                        {"image_id": 1, "category_id": 9, "bbox": [50, 50, 10, 10]}],
    }  # fmt: skip
    dets = [
        {"image_id": 1, "category_id": 9, "bbox": [0, 0, 10, 10], "score": 0.9},  # a seen as b
        {"image_id": 1, "category_id": 9, "bbox": [80, 80, 5, 5], "score": 0.9},  # nothing there
        {"image_id": 1, "category_id": 7, "bbox": [50, 50, 10, 10], "score": 0.1},  # below the threshold
    ]
    names, matrix = confusion_matrix(gt, dets)
    assert names == ["a", "b"]
    assert matrix.tolist() == [[0, 0, 0], [1, 0, 1], [0, 1, 0]]
