"""Inference pre-processing on the real sample images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from picodet_cli.data.transforms import COLOR_ORDER, MEAN, STD, batch_preprocess, preprocess, read_image
from picodet_cli.errors import PicodetError


def test_read_image_from_path_and_bytes(images_dir: Path) -> None:
    path = images_dir / "rocket.jpg"
    image = read_image(path)
    assert image.shape == (427, 640, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(read_image(path.read_bytes()), image)
    np.testing.assert_array_equal(
        read_image(str(images_dir / "chelsea.png")), cv2.imread(str(images_dir / "chelsea.png"))
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"", "cannot decode"), (b"this is not an image", "cannot decode"), (None, "cannot decode")],
)
def test_read_image_rejects_non_images(tmp_path: Path, images_dir: Path, payload: bytes | None, message: str) -> None:
    path = tmp_path / "broken.png"
    # None: a PNG cut after its header, i.e. a truncated download
    path.write_bytes((images_dir / "chelsea.png").read_bytes()[:64] if payload is None else payload)
    with pytest.raises(PicodetError, match=message) as info:
        read_image(path)
    assert str(path) in info.value.message and info.value.hint and "\n" not in str(info.value)


def test_read_image_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PicodetError, match="image not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(PicodetError, match="cannot read image"):
        read_image(tmp_path)


def test_preprocess_shapes_and_scale_factor(images_dir: Path) -> None:
    bgr = read_image(images_dir / "chelsea.png")  # 300 x 451
    image, im_shape, scale_factor = preprocess(bgr, 320)
    assert image.shape == (1, 3, 320, 320) and image.dtype == np.float32 and image.flags.c_contiguous
    np.testing.assert_array_equal(im_shape, [[320, 320]])
    assert im_shape.dtype == scale_factor.dtype == np.float32
    np.testing.assert_allclose(scale_factor, [[320 / 300, 320 / 451]], rtol=1e-7)
    image, im_shape, scale_factor = preprocess(bgr, (256, 416))
    assert image.shape == (1, 3, 256, 416)
    np.testing.assert_array_equal(im_shape, [[256, 416]])
    np.testing.assert_allclose(scale_factor, [[256 / 300, 416 / 451]], rtol=1e-7)


def test_preprocess_pixel_values_by_hand(images_dir: Path) -> None:
    bgr = read_image(images_dir / "chelsea.png")
    image, _, _ = preprocess(bgr, (300, 451))  # same size: the resize keeps every pixel
    y, x = 123, 321
    b, g, r = (int(v) for v in bgr[y, x])
    expected = [(r / 255 - 0.485) / 0.229, (g / 255 - 0.456) / 0.224, (b / 255 - 0.406) / 0.225]
    np.testing.assert_allclose(image[0, :, y, x], expected, rtol=1e-6)
    assert COLOR_ORDER == "RGB" and MEAN == (0.485, 0.456, 0.406) and STD == (0.229, 0.224, 0.225)


def test_preprocess_resizes_with_cubic_interpolation(images_dir: Path) -> None:
    bgr = read_image(images_dir / "rocket.jpg")
    image, _, _ = preprocess(bgr, 320)
    rgb = cv2.resize(bgr, (320, 320), interpolation=cv2.INTER_CUBIC)[:, :, ::-1].astype(np.float32) / 255
    expected = ((rgb - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)
    np.testing.assert_allclose(image[0], expected, atol=1e-5)
    linear = cv2.resize(bgr, (320, 320), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float32) / 255
    assert np.abs(((linear - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1) - image[0]).max() > 1e-2


def test_batch_preprocess_stacks(images_dir: Path) -> None:
    images = [read_image(images_dir / name) for name in ("rocket.jpg", "chelsea.png")]
    batch, im_shape, scale_factor = batch_preprocess(images, 416)
    assert batch.shape == (2, 3, 416, 416) and im_shape.shape == scale_factor.shape == (2, 2)
    np.testing.assert_allclose(scale_factor, [[416 / 427, 416 / 640], [416 / 300, 416 / 451]], rtol=1e-7)
    np.testing.assert_array_equal(batch[1:], preprocess(images[1], 416)[0])


@pytest.mark.parametrize("size", [0, -320, (320,), (320, 0), 320.5, "320"])
def test_preprocess_rejects_bad_sizes(size: object) -> None:
    with pytest.raises(PicodetError, match="invalid input size"):
        preprocess(np.zeros((10, 10, 3), np.uint8), size)  # type: ignore[arg-type]


def test_preprocess_rejects_non_bgr_arrays() -> None:
    with pytest.raises(PicodetError, match=r"\[H, W, 3\]"):
        preprocess(np.zeros((10, 10), np.uint8), 320)
