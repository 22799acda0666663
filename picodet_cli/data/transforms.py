"""Inference pre-processing exactly as the v1 test reader (spec §2): decode, resize, normalise, CHW.

The constants describe the model input for artifact metadata: RGB order, /255, then (x − MEAN) / STD.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from picodet_cli.errors import PicodetError

MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
COLOR_ORDER = "RGB"
INTERPOLATION = cv2.INTER_CUBIC
IMAGE_HINT = "give a JPEG, PNG, BMP, TIFF or WebP image file"


def read_image(source: str | os.PathLike[str] | bytes) -> np.ndarray:
    """Decode an image file (path or encoded bytes) to a BGR uint8 array [H, W, 3]."""
    if isinstance(source, bytes | bytearray):
        name, data = "image bytes", bytes(source)
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise PicodetError(f"image not found: {name}", "check the path") from None
        except OSError as exc:
            raise PicodetError(f"cannot read image {name}: {exc.strerror or exc}", "check the path") from None
    image = None
    if data:
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            image = None
    if image is None:
        raise PicodetError(f"cannot decode {name}: not an image or the file is corrupt", IMAGE_HINT)
    return image


def preprocess(image_bgr: np.ndarray, input_size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BGR [H, W, 3] → (`image` [1, 3, h, w], `im_shape` [1, 2] = (h, w), `scale_factor` [1, 2] = (y, x)).

    `input_size` is the model size: an int for a square input or (h, w). No aspect ratio is kept.
    """
    target_h, target_w = _size(input_size)
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or 0 in image_bgr.shape:
        raise PicodetError(f"expected a BGR image of shape [H, W, 3], got {list(image_bgr.shape)}", IMAGE_HINT)
    orig_h, orig_w = image_bgr.shape[:2]
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (target_w, target_h), interpolation=INTERPOLATION)
    image = resized.astype(np.float32) / 255.0
    image -= np.array(MEAN)  # float64 constants, result kept float32, as the original NormalizeImage
    image /= np.array(STD)
    im_shape = np.array([[target_h, target_w]], np.float32)
    scale_factor = np.array([[target_h / orig_h, target_w / orig_w]], np.float32)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None]), im_shape, scale_factor


def batch_preprocess(
    images: Sequence[np.ndarray], input_size: int | tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`preprocess` each BGR image and stack: [N, 3, h, w], [N, 2], [N, 2]."""
    if not images:
        raise PicodetError("no images to preprocess", "give at least one image")
    tensors, shapes, scales = zip(*(preprocess(image, input_size) for image in images), strict=True)
    return np.concatenate(tensors), np.concatenate(shapes), np.concatenate(scales)


def _size(input_size: int | tuple[int, int]) -> tuple[int, int]:
    """Model input size as (h, w) positive ints."""
    size = (input_size, input_size) if isinstance(input_size, int | np.integer) else input_size
    pair = isinstance(size, tuple | list) and len(size) == 2
    if not pair or not all(isinstance(v, int | np.integer) and v > 0 for v in size):
        raise PicodetError(f"invalid input size {input_size!r}", "use a positive int or (height, width)")
    return int(size[0]), int(size[1])
