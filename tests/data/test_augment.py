"""Training augmentation: boxes stay valid and follow the image; everything is reproducible from the rng."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from picodet_cli.data import augment
from picodet_cli.data.augment import (
    TrainAugment,
    batch_random_resize,
    normalize_to_chw,
    pick_resize,
    random_crop,
    random_distort,
    random_flip,
)
from picodet_cli.data.transforms import preprocess


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy image with white boxes drawn exactly where the targets are."""
    image = rng.integers(0, 100, (120, 160, 3), np.uint8)
    boxes = np.array([[10, 20, 50, 70], [90, 30, 150, 110], [60, 5, 80, 25]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        image[y1:y2, x1:x2] = 255
    return image, boxes, np.array([0, 1, 2], np.int64)


def _assert_boxes_on_white(image: np.ndarray, boxes: np.ndarray) -> None:
    height, width = image.shape[:2]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    for x1, y1, x2, y2 in boxes.astype(int):
        assert (image[y1:y2, x1:x2] == 255).all()


def test_flip_by_hand() -> None:
    image = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    boxes = np.array([[1, 0, 3, 2]], np.float32)
    flipped, fboxes = random_flip(image, boxes, np.random.default_rng(0), prob=1.0)
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_array_equal(fboxes, [[2, 0, 4, 2]])
    same, sboxes = random_flip(image, boxes, np.random.default_rng(0), prob=0.0)
    assert same is image and sboxes is boxes


@pytest.mark.parametrize("seed", range(30))
def test_crop_keeps_boxes_inside_and_on_their_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    image, boxes, classes = _scene(rng)
    cropped, cboxes, cclasses = random_crop(image, boxes, classes, rng)
    assert len(cboxes) == len(cclasses) >= 1
    _assert_boxes_on_white(cropped, cboxes)
    flipped, fboxes = random_flip(cropped, cboxes, rng, prob=1.0)
    _assert_boxes_on_white(flipped, fboxes)


def test_crop_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed window: boxes with their centre inside are clipped and shifted, the others dropped."""
    image, boxes, classes = _scene(np.random.default_rng(0))
    monkeypatch.setattr(augment, "_sample_crop", lambda w, h, rng: np.array([20, 10, 100, 90]))
    crops = [random_crop(image, boxes, classes, np.random.default_rng(s)) for s in range(20)]
    done = [c for c in crops if c[0].shape[:2] == (80, 80)]
    assert done and len(done) < 20  # sometimes "no crop" comes first
    out, cboxes, cclasses = done[0]
    np.testing.assert_array_equal(out, image[10:90, 20:100])
    # box 1 (centre x 120) is outside the window and dropped; box 0 is clipped on the left
    np.testing.assert_array_equal(cboxes, [[0, 10, 30, 60], [40, 0, 60, 15]])
    np.testing.assert_array_equal(cclasses, [0, 2])


def test_crop_without_boxes_is_identity() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    out = random_crop(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.random.default_rng(0))
    assert out[0] is image


def test_distort_range_and_determinism() -> None:
    image = np.random.default_rng(1).integers(0, 256, (30, 40, 3), np.uint8)
    outs = [random_distort(image, np.random.default_rng(s)) for s in range(8)]
    for out in outs:
        assert out.dtype == np.float32 and out.shape == image.shape and out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(outs[3], random_distort(image, np.random.default_rng(3)))
    assert any(not np.array_equal(out, image) for out in outs)
    grey = np.full((4, 4, 3), 77, np.uint8)  # a grey image has no hue or saturation to change
    for s in range(8):
        out = random_distort(grey, np.random.default_rng(s))
        assert np.ptp(out, axis=2).max() < 1e-3


def test_batch_resize_scales_boxes_and_uses_one_size() -> None:
    images = [np.zeros((100, 200, 3), np.uint8), np.zeros((50, 50, 3), np.uint8)]
    boxes = [np.array([[20, 10, 200, 100]], np.float32), np.zeros((0, 4), np.float32)]
    out, oboxes = batch_random_resize(images, boxes, 64, cv2.INTER_AREA)
    assert [im.shape for im in out] == [(64, 64, 3), (64, 64, 3)]
    np.testing.assert_allclose(oboxes[0], [[6.4, 6.4, 64, 64]], rtol=1e-6)
    assert oboxes[1].shape == (0, 4)
    sizes = {pick_resize([256, 320], True, np.random.default_rng(s)) for s in range(40)}
    assert {s for s, _ in sizes} == {256, 320} and len({i for _, i in sizes}) == 5
    assert {pick_resize([256], False, np.random.default_rng(s))[1] for s in range(5)} == {cv2.INTER_CUBIC}


def test_normalize_matches_eval_preprocessing() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8)
    expected = preprocess(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (24, 32))[0][0]
    out = normalize_to_chw(rgb)
    assert out.shape == (3, 24, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_train_augment_is_deterministic_and_valid() -> None:
    image, boxes, classes = _scene(np.random.default_rng(0))
    aug = TrainAugment(flip=0.5, crop=True, distort=True)
    a = aug(image, boxes, classes, np.random.default_rng(5))
    b = aug(image, boxes, classes, np.random.default_rng(5))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    plain = TrainAugment(flip=0.0, crop=False, distort=False)(image, boxes, classes, np.random.default_rng(0))
    np.testing.assert_array_equal(plain[0], image.astype(np.float32))
    np.testing.assert_array_equal(plain[1], boxes)
