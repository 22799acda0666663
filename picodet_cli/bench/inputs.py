"""Benchmark inputs: the images timed (the same tensors for every runtime) and the optional mAP dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGES = 8  # timed runs cycle through at most this many images
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def recipe_index(recipe: Any) -> Any:
    """A loaded recipe's validation split (so its `--set` overrides apply)."""
    from ..data.index import read_dataset

    d = recipe.data
    return read_dataset(d.format, d.val_images, d.val_annotations, list(d.classes) or None)


def load_index(data: Path, images: Path | None, overrides: list[str] | None = None) -> Any:
    """The evaluation set, as `picodet eval` reads it: a recipe's validation split (with `--set` overrides) or
    COCO json + --images."""
    from ..data.index import read_dataset

    if data.suffix == ".toml":
        from ..recipe.loader import load_recipe

        return recipe_index(load_recipe(data, overrides or []))
    if images is None:
        raise PicodetError(
            f"--data {data.name} needs --images FOLDER: the folder its images' file_name entries are relative to"
            f"{_first_image(data)}",
            "or pass a recipe as --data (its validation split knows its image folder)",
        )
    return read_dataset("coco", images, data)


def _first_image(annotations: Path) -> str:
    """` (e.g. the folder holding <file_name>)` for the json's first image, when it can be read."""
    import json

    try:
        first = json.loads(annotations.read_text(encoding="utf-8"))["images"][0]["file_name"]
    except (OSError, ValueError, LookupError, TypeError):
        return ""
    return f" (e.g. the folder holding {str(first)[:120]})"


def image_files(images: Path | None, index: Any = None) -> list[Path]:
    """Up to MAX_IMAGES images: from --images, else the dataset, else the bundled sample photos."""
    if images is not None:
        if not images.is_dir():
            raise PicodetError(f"--images {images}: not a folder", "give a folder of images")
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif index is not None:
        files = [Path(r.path) for r in index.records]
    else:
        files = sorted(ASSETS.glob("*.jpg"))
    if not files:
        raise PicodetError(f"no images found in {images}", f"image types: {', '.join(IMAGE_SUFFIXES)}")
    return files[:MAX_IMAGES]


def load_images(files: list[Path], input_size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Decoded BGR images and their pre-processed `image` tensors [1, 3, S, S]."""
    from ..data.transforms import preprocess, read_image

    images = [read_image(p) for p in files]
    return images, [preprocess(image, input_size)[0] for image in images]
