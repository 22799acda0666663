"""VOC as people write it: images found by <filename>, the XML's stem or <path>; one warning; the real reason."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from picodet_cli.data import records as rec
from picodet_cli.data.index import read_dataset
from picodet_cli.data.report import find_splits
from picodet_cli.data.voc import BY_PATH, BY_STEM
from picodet_cli.recipe.loader import RecipeError, check_recipe, load_recipe

XML = """<annotation>
  <folder>images</folder>
  <filename>{filename}</filename>
  <path>{path}</path>
  <source><database>Unknown</database></source>
  <size><width>40</width><height>40</height><depth>3</depth></size>
  <segmented>0</segmented>
  {objects}
</annotation>
"""
OBJECT = (
    "<object><name>Tree</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
    "<bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>"
)


def _image(path: Path, size: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(len(path.name)).integers(0, 255, (size, size, 3), np.uint8)
    cv2.imwrite(str(path), image)


def _xml(path: Path, filename: str, image_path: str, boxes: list[tuple[int, int, int, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    objects = "\n  ".join(OBJECT.format(*b) for b in boxes)
    path.write_text(XML.format(filename=filename, path=image_path, objects=objects))


@pytest.fixture
def neon_voc(tmp_path: Path) -> Path:
    """The issue's case in miniature: <filename> OSBS_029.tif beside JPEGImages/OSBS_029.png; an XML naming a .png
    whose image is a .jpg; one written right. <path> holds the annotator's absolute path (not on this machine).
    """
    root = tmp_path / "neon"
    _image(root / "JPEGImages" / "OSBS_029.png")
    _image(root / "JPEGImages" / "2019_YELL_2_541000_4977000_image_crop.jpg")
    _image(root / "JPEGImages" / "SJER_062.png")
    _xml(root / "Annotations/OSBS_029.xml", "OSBS_029.tif", "/home/ben/OSBS_029.tif", [(1, 1, 10, 10), (5, 5, 30, 25)])
    _xml(
        root / "Annotations/2019_YELL_2_541000_4977000_image_crop.xml",
        "2019_YELL_2_541000_4977000_image_crop.png",
        "/home/ben/2019_YELL_2_541000_4977000_image_crop.png",
        [(2, 2, 20, 20), (30, 30, 45, 39)],  # the second crosses the right edge: clipped
    )
    _xml(root / "Annotations/SJER_062.xml", "SJER_062.png", "/home/ben/SJER_062.png", [(3, 3, 9, 9)])
    return root


def test_every_image_of_the_issue_case_is_found_and_named(neon_voc: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        index = read_dataset("voc", neon_voc / "JPEGImages", neon_voc / "Annotations", ["Tree"])
    assert sorted(r.path.name for r in index.records) == [
        "2019_YELL_2_541000_4977000_image_crop.jpg",
        "OSBS_029.png",
        "SJER_062.png",
    ]
    assert sum(len(r.boxes) for r in index.records) == 5 and not index.issues
    assert index.notes.counts == {BY_STEM: 2, rec.CLIPPED_BOX: 1}
    assert "OSBS_029.xml: OSBS_029.tif -> OSBS_029.png" in index.notes.examples[BY_STEM]
    (record,) = [r for r in caplog.records if r.name == "picodet_cli.data.index"]
    assert "2 images found by the XML's stem" in record.getMessage() and "OSBS_029.tif -> OSBS_029.png" in (
        record.getMessage()
    )


def test_path_rule_and_missing_images_in_one_warning(neon_voc: Path, tmp_path: Path, caplog):
    _image(tmp_path / "elsewhere" / "far.png")
    _xml(neon_voc / "Annotations/far_away.xml", "nope.png", str(tmp_path / "elsewhere" / "far.png"), [(1, 1, 9, 9)])
    for k in range(4):
        _xml(neon_voc / f"Annotations/gone_{k}.xml", f"gone_{k}.png", f"/nowhere/gone_{k}.png", [(1, 1, 9, 9)])
    with caplog.at_level(logging.WARNING):
        index = read_dataset("voc", neon_voc / "JPEGImages", neon_voc / "Annotations", ["Tree"])
    assert len(index) == 4 and index.notes.counts[BY_PATH] == 1 and index.listed == 8
    assert index.issues == {rec.MISSING_IMAGE: 4}
    (record,) = [r for r in caplog.records if r.name == "picodet_cli.data.index"]
    message = record.getMessage()
    assert "skipped 4 image file missing (gone_0.xml, gone_1.xml, gone_2.xml, ...)" in message
    assert "1 images found by the XML's <path>" in message
    assert read_dataset("voc", neon_voc / "JPEGImages", neon_voc / "Annotations", ["Tree"], warn=False)
    assert len([r for r in caplog.records if r.name == "picodet_cli.data.index"]) == 1


def _recipe(tmp_path: Path, root: Path, batch: int = 2) -> Path:
    path = tmp_path / "neon.toml"
    path.write_text(
        f'[model]\narch = "s-320"\n[data]\nformat = "voc"\nroot = "{root}"\ntrain_images = "JPEGImages"\n'
        'train_annotations = "Annotations"\nval_images = "JPEGImages"\nval_annotations = "Annotations"\n'
        f'classes = ["Tree"]\n[train]\nbatch_size = {batch}\n'
    )
    return path


def test_recipe_check_uses_all_three_images(neon_voc: Path, tmp_path: Path):
    lines = check_recipe(load_recipe(_recipe(tmp_path, neon_voc)))
    (train,) = [line for line in lines if line.startswith("data train:")]
    assert "3 images, 5 boxes" in train and "images found by the XML's stem" in train and "decoded 3 images" in train


def test_mostly_unusable_data_fails_with_the_real_reason(neon_voc: Path, tmp_path: Path):
    for name in ("OSBS_029.png", "2019_YELL_2_541000_4977000_image_crop.jpg"):
        (neon_voc / "JPEGImages" / name).unlink()
    with pytest.raises(RecipeError) as info:
        check_recipe(load_recipe(_recipe(tmp_path, neon_voc, batch=2)))
    message = info.value.message
    assert "only 1 of 3 listed images are usable: 2 image file missing" in message and "OSBS_029.xml" in message
    assert "batch" not in message


def test_undecodable_images_are_reported_and_all_undecodable_fails(neon_voc: Path, tmp_path: Path):
    (neon_voc / "JPEGImages" / "SJER_062.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # header only
    _xml(neon_voc / "Annotations/SJER_062.xml", "SJER_062.png", "", [(3, 3, 9, 9)])  # size from the XML
    lines = check_recipe(load_recipe(_recipe(tmp_path, neon_voc)), strict=True)
    (train,) = [line for line in lines if line.startswith("data train:")]
    assert "1 cannot be decoded" in train and "SJER_062.png" in train
    for image in (neon_voc / "JPEGImages").iterdir():
        image.write_bytes(b"not an image")
    with pytest.raises(RecipeError, match="none of the 3 images tried can be decoded"):
        check_recipe(load_recipe(_recipe(tmp_path, neon_voc)))


def test_a_voc_folder_is_recognised(neon_voc: Path):
    data_format, (split,) = find_splits(neon_voc)
    assert data_format == "voc"
    assert (split.name, split.format, split.annotations.name) == ("all", "voc", "Annotations")
