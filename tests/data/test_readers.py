"""COCO and VOC readers: what is kept, what is counted as skipped, and the errors for unreadable input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from picodet_cli.data import records as rec
from picodet_cli.data.index import read_dataset
from picodet_cli.data.records import DatasetError, image_size
from picodet_cli.engine.coco_metrics import evaluate_coco, to_coco_results


def _jpeg(path: Path, width: int = 16, height: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
    return path


@pytest.fixture(scope="module")
def coco_json(coco_eval_dir: Path) -> Path:
    return coco_eval_dir / "instances_val2014_100.json"


@pytest.fixture
def coco_images(tmp_path: Path, coco_json: Path) -> tuple[Path, list[dict]]:
    """Tiny stand-in files for the first 10 images of the fixture; the other 90 are missing."""
    entries = json.loads(coco_json.read_text())["images"][:10]
    for entry in entries:
        _jpeg(tmp_path / "images" / entry["file_name"])
    return tmp_path / "images", entries


def test_coco_reader_counts_missing_images_and_keeps_crowd_for_eval(coco_json: Path, coco_images) -> None:
    images, entries = coco_images
    data = json.loads(coco_json.read_text())
    index = read_dataset("coco", images, coco_json)
    kept = {e["id"] for e in entries}
    assert len(index) == 10 and {r.image_id for r in index.records} == kept
    assert index.issues[rec.MISSING_IMAGE] == 90
    assert index.class_names[0] == "person" and index.category_ids == [c["id"] for c in data["categories"]]
    anns = [a for a in data["annotations"] if a["image_id"] in kept]
    crowd = [a for a in anns if a["iscrowd"]]
    assert sum(len(r.boxes) for r in index.records) == len(anns) - len(crowd)
    assert index.issues.get(rec.CROWD_BOX, 0) == len(crowd)
    for r in index.records:
        assert r.boxes.dtype == np.float32 and r.boxes.shape[1] == 4 and r.classes.dtype == np.int64
        assert (r.boxes[:, :2] >= 0).all() and (r.boxes[:, 2] <= r.width).all() and (r.boxes[:, 3] <= r.height).all()
    gt = index.to_coco_gt()
    assert {i["id"] for i in gt["images"]} == kept and len(gt["annotations"]) == len(anns)
    assert all("segmentation" not in a for a in gt["annotations"])
    assert "10 images" in index.summary() and "90 image file missing" in index.summary()


def test_coco_gt_of_kept_images_evaluates_to_map_one(coco_json: Path, coco_images) -> None:
    index = read_dataset("coco", coco_images[0], coco_json)
    dets = []
    for r in index.records:
        rows = np.concatenate([r.classes[:, None], np.ones((len(r.boxes), 1)), r.boxes], axis=1)
        dets += to_coco_results(r.image_id, rows, index.category_ids)
    assert evaluate_coco(index.to_coco_gt(), dets).map == pytest.approx(1.0)


def test_coco_crowd_handling_and_empty_images(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg", 100, 50)
    _jpeg(tmp_path / "b.jpg", 100, 50)
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 50},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [90, 40, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 1},
            {"id": 3, "image_id": 1, "category_id": 7, "bbox": [5, 5, 0, 10], "area": 0, "iscrowd": 0},
            {"id": 4, "image_id": 1, "category_id": 7, "bbox": [200, 5, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 5, "image_id": 2, "category_id": 7, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 1},
            {"id": 6, "image_id": 9, "category_id": 7, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0},
        ],
        "categories": [{"id": 7, "name": "thing"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    index = read_dataset("coco", tmp_path, path)
    first = index.records[0]
    np.testing.assert_array_equal(first.boxes, [[90, 40, 100, 50]])  # clipped to the image
    assert first.classes.tolist() == [0] and index.category_ids == [7]
    assert index.issues == {rec.CROWD_BOX: 2, rec.BAD_SIZE_BOX: 1, rec.OUTSIDE_BOX: 1, rec.ORPHAN_BOX: 1}
    assert len(index) == 2 and len(index.records[1].boxes) == 0  # kept for evaluation
    gt = index.to_coco_gt()
    assert [a["iscrowd"] for a in gt["annotations"] if a["image_id"] == 2] == [1]
    train = read_dataset("coco", tmp_path, path, keep_empty=False)
    assert len(train) == 1 and train.issues[rec.EMPTY_IMAGE] == 1


def test_coco_class_mismatch_and_bad_files(tmp_path: Path, coco_json: Path, coco_images) -> None:
    names = json.loads(coco_json.read_text())["categories"]
    wrong = [c["name"] for c in names]
    wrong[3] = "scooter"
    with pytest.raises(DatasetError, match="class 3 is 'scooter' but the json has 'motorcycle'") as info:
        read_dataset("coco", coco_images[0], coco_json, wrong)
    assert info.value.hint
    with pytest.raises(DatasetError, match="2 classes given, the json has 80"):
        read_dataset("coco", coco_images[0], coco_json, ["person", "bicycle"])
    assert len(read_dataset("coco", coco_images[0], coco_json, [c["name"] for c in names])) == 10
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    cases = [
        (tmp_path / "nope.json", "annotation file not found"),
        (tmp_path / "bad.json", "not a readable JSON file"),
        (tmp_path / "list.json", "not a COCO instances file"),
    ]
    for path, message in cases:
        with pytest.raises(DatasetError, match=message):
            read_dataset("coco", tmp_path, path)
    with pytest.raises(DatasetError, match="image folder not found"):
        read_dataset("coco", tmp_path / "missing", coco_json)
    with pytest.raises(DatasetError, match="unknown dataset format 'yaml'"):
        read_dataset("yaml", tmp_path, coco_json)


def _voc_xml(path: Path, filename: str, objects: list[tuple], size: tuple[int, int] | None = (100, 80)) -> None:
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b, d in objects
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><filename>{filename}</filename>{size_xml}{objs}</annotation>")


@pytest.fixture
def voc_dir(tmp_path: Path) -> Path:
    _jpeg(tmp_path / "JPEGImages" / "a.jpg", 100, 80)
    _jpeg(tmp_path / "JPEGImages" / "b.jpg", 60, 40)
    _voc_xml(tmp_path / "Annotations" / "a.xml", "a.jpg", [("dog", (10, 10, 50, 60), 0), ("cat", (0, 0, 200, 30), 1)])
    _voc_xml(
        tmp_path / "Annotations" / "b.xml",
        "b.jpg",
        [("cat", (5, 5, 20, 20), 0), ("cow", (1, 1, 9, 9), 0), ("dog", (30, 5, 20, 20), 0)],
        size=None,  # read from the image header
    )
    _voc_xml(tmp_path / "Annotations" / "c.xml", "c.jpg", [("dog", (1, 1, 5, 5), 0)])
    return tmp_path


def test_voc_reader_from_folder(voc_dir: Path) -> None:
    index = read_dataset("voc", voc_dir / "JPEGImages", voc_dir / "Annotations", ["cat", "dog"])
    assert index.class_names == ["cat", "dog"] and index.category_ids == [1, 2]
    assert [r.path.name for r in index.records] == ["a.jpg", "b.jpg"]
    a, b = index.records
    np.testing.assert_array_equal(a.boxes, [[10, 10, 50, 60], [0, 0, 100, 30]])
    assert a.classes.tolist() == [1, 0] and (b.width, b.height) == (60, 40) and b.classes.tolist() == [0]
    assert index.issues == {rec.UNKNOWN_CLASS: 1, rec.BAD_SIZE_BOX: 1, rec.MISSING_IMAGE: 1}
    gt = index.to_coco_gt()
    assert [x["iscrowd"] for x in gt["annotations"]] == [0, 1, 0]  # difficult → ignored in eval
    inferred = read_dataset("voc", voc_dir / "JPEGImages", voc_dir / "Annotations")
    assert inferred.class_names == ["cat", "cow", "dog"] and rec.UNKNOWN_CLASS not in inferred.issues


def test_voc_reader_from_list_file(voc_dir: Path) -> None:
    (voc_dir / "train.txt").write_text("JPEGImages/b.jpg Annotations/b.xml\n\nJPEGImages/a.jpg Annotations/a.xml\n")
    index = read_dataset("voc", voc_dir / "unused", voc_dir / "train.txt", ["cat", "dog"])
    assert [r.path.name for r in index.records] == ["b.jpg", "a.jpg"] and [r.image_id for r in index.records] == [0, 1]
    (voc_dir / "bad.txt").write_text("only_one_column\n")
    with pytest.raises(DatasetError, match="line 1: expected 'image_path xml_path'"):
        read_dataset("voc", voc_dir, voc_dir / "bad.txt")


def test_voc_errors(voc_dir: Path) -> None:
    (voc_dir / "Annotations" / "broken.xml").write_text("<annotation><filename>")
    with pytest.raises(DatasetError, match=r"malformed XML .*broken\.xml"):
        read_dataset("voc", voc_dir / "JPEGImages", voc_dir / "Annotations")
    with pytest.raises(DatasetError, match="annotation path not found"):
        read_dataset("voc", voc_dir, voc_dir / "nothing")
    with pytest.raises(DatasetError, match=r"no \.xml files"):
        read_dataset("voc", voc_dir, voc_dir / "JPEGImages")


def test_image_size_reads_headers(tmp_path: Path) -> None:
    image = np.zeros((7, 13, 3), np.uint8)
    for ext in ("jpg", "png", "bmp"):
        cv2.imwrite(str(tmp_path / f"x.{ext}"), image)
        assert image_size(tmp_path / f"x.{ext}") == (13, 7)
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8garbage")
    assert image_size(tmp_path / "junk.jpg") is None and image_size(tmp_path / "none.jpg") is None
