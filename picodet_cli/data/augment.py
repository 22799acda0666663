"""Training augmentation of the v1 recipe (spec §6.1), in numpy + OpenCV, driven by a `np.random.Generator`.

Sample-wise: SSD-style random crop → horizontal flip → photometric distortion. Batch-wise: one random
size (and interpolation) per batch, no aspect ratio kept → normalise as eval → CHW.
Boxes are float32 `[G, 4]` xyxy pixels; images are RGB `[H, W, 3]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from picodet_cli.data.transforms import INTERPOLATION, MEAN, STD

CROP_THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
CROP_SCALE = (0.3, 1.0)
CROP_ASPECT = (0.5, 2.0)
CROP_ATTEMPTS = 50
INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)
HUE_DEGREES = 18.0
FACTOR_RANGE = (0.5, 1.5)
DISTORT_PROB = 0.5
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def random_crop(
    image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSD-style crop: for each IoU threshold (and "no crop") in random order, try 50 crops of scale [0.3, 1]
    and aspect [0.5, 2]; take the first whose best IoU with a box reaches the threshold and that keeps a box
    centre. Boxes with their centre inside are kept, clipped and shifted. Images without boxes are unchanged.
    """
    if len(boxes) == 0:
        return image, boxes, classes
    height, width = image.shape[:2]
    choices = [*CROP_THRESHOLDS, None]
    for k in rng.permutation(len(choices)):
        threshold = choices[k]
        if threshold is None:
            return image, boxes, classes
        for _ in range(CROP_ATTEMPTS):
            crop = _sample_crop(width, height, rng)
            if _iou(boxes, crop).max() < threshold:
                continue
            kept, cropped = _crop_boxes(boxes, crop)
            if kept.any():
                x1, y1, x2, y2 = crop
                return image[y1:y2, x1:x2], cropped[kept], classes[kept]
    return image, boxes, classes


def _sample_crop(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A crop window [x1, y1, x2, y2] (ints) of random scale and aspect ratio inside the image."""
    scale = rng.uniform(*CROP_SCALE)
    aspect = rng.uniform(max(CROP_ASPECT[0], scale**2), min(CROP_ASPECT[1], scale**-2))
    crop_h = max(1, int(height * scale / np.sqrt(aspect)))
    crop_w = max(1, int(width * scale * np.sqrt(aspect)))
    y = int(rng.integers(0, height - crop_h + 1))
    x = int(rng.integers(0, width - crop_w + 1))
    return np.array([x, y, x + crop_w, y + crop_h])


def _iou(boxes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """IoU of each box with one window."""
    lt = np.maximum(boxes[:, :2], window[:2])
    rb = np.minimum(boxes[:, 2:], window[2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    window_area = float((window[2:] - window[:2]).prod())
    return inter / np.maximum(area + window_area - inter, 1e-10)


def _crop_boxes(boxes: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of boxes whose centre is inside the window and that keep an area, boxes clipped to and shifted by it)."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((centres >= window[:2]) & (centres < window[2:])).all(axis=1)
    cropped = np.concatenate([np.maximum(boxes[:, :2], window[:2]), np.minimum(boxes[:, 2:], window[2:])], axis=1)
    cropped = (cropped - np.tile(window[:2], 2)).astype(np.float32)
    kept = inside & (cropped[:, :2] < cropped[:, 2:]).all(axis=1)
    return kept, cropped


def random_flip(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, prob: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right with probability `prob` (x → width − x for both box edges)."""
    if rng.uniform() >= prob:
        return image, boxes
    width = image.shape[1]
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return image[:, ::-1], flipped


def random_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hue (±18°, a rotation in YIQ), saturation, contrast and brightness (factors in [0.5, 1.5]), each with
    probability 0.5, in random order; float32 RGB clipped to [0, 255].
    """
    out = image.astype(np.float32)
    for op in rng.permutation(4):
        if rng.uniform() >= DISTORT_PROB:
            continue
        if op == 0:
            out = _hue(out, rng.uniform(-HUE_DEGREES, HUE_DEGREES))
            continue
        factor = float(rng.uniform(*FACTOR_RANGE))
        if op == 1:  # saturation: blend with the per-pixel grey
            grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
            out = cv2.addWeighted(out, factor, cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), 1 - factor, 0)
        elif op == 2:  # contrast: blend with the mean grey
            mean = float(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).mean())
            out = cv2.addWeighted(out, factor, out, 0, mean * (1 - factor))
        else:  # brightness
            out *= np.float32(factor)
    return np.clip(out, 0, 255, out=out)


def _hue(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the chroma plane (I, Q of YIQ) by `degrees`."""
    theta = np.deg2rad(degrees)
    rotate = np.array([[1, 0, 0], [0, np.cos(theta), -np.sin(theta)], [0, np.sin(theta), np.cos(theta)]])
    matrix = np.linalg.inv(_RGB_TO_YIQ) @ rotate @ _RGB_TO_YIQ
    return cv2.transform(image, matrix.astype(np.float32))


def pick_resize(sizes: Sequence[int], random_interp: bool, rng: np.random.Generator) -> tuple[int, int]:
    """One batch's (size, cv2 interpolation): a random size, and a random interpolation when enabled
    (else cubic, as eval)."""
    size = int(sizes[int(rng.integers(len(sizes)))])
    interp = INTERPOLATIONS[int(rng.integers(len(INTERPOLATIONS)))] if random_interp else INTERPOLATION
    return size, interp


def resize_with_boxes(image: np.ndarray, boxes: np.ndarray, size: int, interp: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize to size × size (aspect ratio not kept) and scale the boxes, clipped to the new image."""
    height, width = image.shape[:2]
    resized = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)
    scale = np.array([size / width, size / height] * 2, np.float32)
    return resized, np.clip(boxes * scale, 0, size).astype(np.float32)


def batch_random_resize(
    images: Sequence[np.ndarray], boxes_list: Sequence[np.ndarray], size: int, interp: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Resize every image of a batch to the batch's one size with its one interpolation."""
    pairs = [resize_with_boxes(im, bx, size, interp) for im, bx in zip(images, boxes_list, strict=True)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def normalize_to_chw(image_rgb: np.ndarray) -> np.ndarray:
    """RGB [H, W, 3] in 0..255 → [3, H, W] float32: (x / 255 − MEAN) / STD as `transforms.preprocess`, per
    channel in float32 (within float32 rounding of it)."""
    scale = 1.0 / (255.0 * np.array(STD, np.float32))
    offset = np.array(MEAN, np.float32) / np.array(STD, np.float32)
    out = np.empty((3, *image_rgb.shape[:2]), np.float32)
    for c, channel in enumerate(cv2.split(np.ascontiguousarray(image_rgb))):
        np.multiply(channel, scale[c], out=out[c])
        out[c] -= offset[c]
    return out


@dataclass(frozen=True)
class TrainAugment:
    """The sample-wise part of the train pipeline: crop → flip → distort (each can be turned off)."""

    flip: float = 0.5
    crop: bool = True
    distort: bool = True

    def __call__(
        self, image_rgb: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image float32 RGB, boxes, classes) augmented; always draws from `rng` in the same order."""
        if self.crop:
            image_rgb, boxes, classes = random_crop(image_rgb, boxes, classes, rng)
        if self.flip > 0:
            image_rgb, boxes = random_flip(image_rgb, boxes, rng, self.flip)
        image = random_distort(image_rgb, rng) if self.distort else image_rgb.astype(np.float32)
        return image, boxes, classes
