"""A small deterministic COCO-format detection set of coloured shapes on textured backgrounds.

Layout under `root`: `train/images/*.jpg`, `train/annotations.json`, the same under `val/`, and a
`dataset.json` stamp with the generation parameters, written last and atomically: a folder is only
reused when its stamp matches, so an interrupted generation is redone, never mistaken for a dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from picodet_cli.errors import PicodetError
from picodet_cli.io import file_lock, write_bytes_atomic, write_json_atomic

FORMAT_VERSION = 1
STAMP = "dataset.json"
SHAPES = ("circle", "square", "triangle", "star")
MIN_SIDE, MAX_SIDE = 24, 120
MAX_OBJECTS = 4
JPEG_QUALITY = 92


@dataclass(frozen=True)
class SyntheticDataset:
    """Where a generated dataset lies (COCO jsons and image folders) and its class names."""

    root: Path
    train_images: Path
    train_annotations: Path
    val_images: Path
    val_annotations: Path
    class_names: list[str]


def generate_shapes_dataset(
    root: Path,
    num_train: int = 360,
    num_val: int = 60,
    image_size: int = 320,
    seed: int = 0,
    classes: tuple[str, ...] = SHAPES,
) -> SyntheticDataset:
    """Write (or reuse) the dataset: 1-4 non-overlapping shapes of 24-120 px per image, tight boxes."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise PicodetError(f"invalid shape classes {classes}", f"use distinct names among {', '.join(SHAPES)}")
    if image_size < 2 * MAX_SIDE or num_train < 0 or num_val < 0 or seed < 0:
        raise PicodetError(
            f"invalid synthetic dataset settings: image_size={image_size} num_train={num_train} num_val={num_val} "
            f"seed={seed}",
            f"use image_size >= {2 * MAX_SIDE} and non-negative counts and seed",
        )
    root = Path(root)
    params = {"version": FORMAT_VERSION, "num_train": num_train, "num_val": num_val, "image_size": image_size,
              "seed": seed, "classes": list(classes)}  # fmt: skip
    dataset = SyntheticDataset(
        root, root / "train" / "images", root / "train" / "annotations.json",
        root / "val" / "images", root / "val" / "annotations.json", list(classes),
    )  # fmt: skip
    with file_lock(root / ".lock"):
        if _stamp(root) == params and _files_present(dataset, num_train, num_val):
            return dataset
        (root / STAMP).unlink(missing_ok=True)
        for split, count, tag in (("train", num_train, 0), ("val", num_val, 1)):
            coco = _write_split(root / split, count, image_size, [seed, tag], list(classes))
            write_json_atomic(root / split / "annotations.json", coco)
        write_json_atomic(root / STAMP, params)
    return dataset


def _stamp(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _files_present(dataset: SyntheticDataset, num_train: int, num_val: int) -> bool:
    """Whether the annotation files and every image a complete dataset has are there (a cheap check)."""
    names = [(dataset.train_images, num_train), (dataset.val_images, num_val)]
    images = all((folder / f"{i:06d}.jpg").is_file() for folder, n in names for i in range(n))
    return images and dataset.train_annotations.is_file() and dataset.val_annotations.is_file()


def _write_split(folder: Path, count: int, size: int, seed: list[int], classes: list[str]) -> dict[str, Any]:
    """Draw and save `count` images; their COCO dict (category ids 1..C)."""
    images, annotations = [], []
    for i in range(count):
        rng = np.random.default_rng([*seed, i])
        image, objects = draw_image(size, classes, rng)
        name = f"{i:06d}.jpg"
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"cannot encode {name}")
        write_bytes_atomic(folder / "images" / name, data.tobytes())
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        for cls, (x1, y1, x2, y2) in objects:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": cls + 1,
                 "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            )  # fmt: skip
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def draw_image(
    size: int, classes: list[str], rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int]]]]:
    """A BGR image and its objects as (class index, (x1, y1, x2, y2) tight pixel-edge box)."""
    image = _background(size, rng)
    taken: list[tuple[int, int, int, int]] = []
    objects = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        cls = int(rng.integers(len(classes)))
        side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
        for _attempt in range(20):
            x, y = (int(v) for v in rng.integers(0, size - side, 2))
            if not any(x < bx2 + 4 and bx1 < x + side + 4 and y < by2 + 4 and by1 < y + side + 4
                       for bx1, by1, bx2, by2 in taken):  # fmt: skip
                break
        else:
            continue
        mask = np.zeros((size, size), np.uint8)
        _draw_shape(mask, classes[cls], x, y, side, rng)
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        colour = _vivid_colour(rng)
        image[mask > 0] = colour
        taken.append((x, y, x + side, y + side))
        objects.append((cls, box))
    return image, objects


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A muted gradient between four corner colours, blotchy texture, pixel noise and a few thin random lines."""
    corners = rng.uniform(40, 200, (2, 2, 3)).astype(np.float32)
    image = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    blotches = rng.uniform(-25, 25, (size // 16, size // 16, 1)).astype(np.float32)
    image += cv2.resize(blotches, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]
    noise = rng.integers(-14, 15, (size, size, 3), np.int16)
    image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 8))):
        p1, p2 = (tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(2))
        grey = int(rng.integers(0, 256))
        cv2.line(image, p1, p2, (grey, grey, grey), int(rng.integers(1, 3)), cv2.LINE_AA)
    return image


def _vivid_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated, fairly bright BGR colour."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(170, 256), rng.integers(170, 256)]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _draw_shape(mask: np.ndarray, shape: str, x: int, y: int, side: int, rng: np.random.Generator) -> None:
    """Fill one shape inside the square (x, y, side) of `mask` with 255; polygons get a random rotation."""
    centre = np.array([x + side / 2, y + side / 2])
    radius = side / 2
    if shape == "circle":
        cv2.circle(mask, (int(centre[0]), int(centre[1])), int(radius) - 1, 255, -1, cv2.LINE_8)
        return
    corners = {"square": 4, "triangle": 3, "star": 10}[shape]
    angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
    radii = np.full(corners, radius)
    if shape == "star":
        radii[1::2] = radius * 0.45
    points = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    points = np.clip(np.round(points), [x, y], [x + side - 1, y + side - 1]).astype(np.int32)
    cv2.fillPoly(mask, [points], 255, cv2.LINE_8)
