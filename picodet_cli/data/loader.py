"""Train and eval batch loaders over a `DatasetIndex`, with optional `paddle.io.DataLoader` worker processes.

Everything random is drawn from generators seeded by (seed, epoch, ...): the epoch's order from
(seed, epoch), each sample's augmentation from (seed, epoch, dataset index) and each batch's size and
interpolation from (seed, epoch, batch number), so the same epoch gives the same batches with any
number of workers, and a resumed run continues exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from picodet_cli.data.augment import TrainAugment, normalize_to_chw, pick_resize, resize_with_boxes
from picodet_cli.data.records import DatasetIndex
from picodet_cli.data.transforms import preprocess, read_image
from picodet_cli.errors import PicodetError

log = logging.getLogger(__name__)
_SHUFFLE, _SAMPLE, _BATCH = 0, 1, 2  # stream tags, so the three kinds of generators never share a seed


@dataclass
class _Extras:
    """Per-batch values that must not go through paddle's tensor conversion (ragged, possibly empty)."""

    values: dict[str, Any]
    bad_paths: list[str] = field(default_factory=list)


class _TrainSamples:
    """Map-style dataset whose keys are (dataset index, size, interpolation) from the batch plan."""

    def __init__(self, index: DatasetIndex, augment: TrainAugment, seed: int, epoch: int) -> None:
        self.records, self.augment, self.seed, self.epoch = index.records, augment, seed, epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, Any]:
        i, size, interp = key
        rng = np.random.default_rng([self.seed, self.epoch, _SAMPLE, i])
        j, image, bad = _decode_or_substitute(self.records, i)
        rec = self.records[j]
        image, boxes, classes = self.augment(image, rec.boxes, rec.classes, rng)
        image, boxes = resize_with_boxes(image, boxes, size, interp)
        sample = {"image": normalize_to_chw(image), "boxes": boxes, "classes": classes.copy(), "id": rec.image_id}
        return {**sample, "bad": bad}


def _decode_or_substitute(records: Sequence[Any], i: int) -> tuple[int, np.ndarray, list[str]]:
    """(index used, RGB image, paths that failed): a record that cannot be decoded is replaced by the next one."""
    bad = []
    for step in range(len(records)):
        j = (i + step) % len(records)
        try:
            return j, cv2.cvtColor(read_image(records[j].path), cv2.COLOR_BGR2RGB), bad
        except PicodetError:
            bad.append(str(records[j].path))
    raise PicodetError("no image of the dataset can be decoded", "check the image folder")


def _collate_train(samples: list[dict[str, Any]]) -> dict[str, Any]:
    extras = {
        "gt_bboxes": [s["boxes"] for s in samples],
        "gt_classes": [s["classes"] for s in samples],
        "image_ids": [s["id"] for s in samples],
    }
    return {
        "image": np.stack([s["image"] for s in samples]),
        "extras": _Extras(extras, [path for s in samples for path in s["bad"]]),
    }


class _EvalSamples:
    """Map-style dataset: record index → eval-preprocessed tensors, or None when the image cannot be decoded."""

    def __init__(self, index: DatasetIndex, input_size: int) -> None:
        self.records, self.input_size = index.records, input_size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        try:
            image, im_shape, scale_factor = preprocess(read_image(rec.path), self.input_size)
        except PicodetError:
            return {"bad": str(rec.path)}
        return {"image": image[0], "im_shape": im_shape[0], "scale_factor": scale_factor[0], "id": rec.image_id}


def _collate_eval(samples: list[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in samples if "bad" not in s]
    bad = [s["bad"] for s in samples if "bad" in s]
    if not good:  # nothing to stack (paddle's workers cannot pass empty arrays)
        return {"extras": _Extras({}, bad)}
    batch: dict[str, Any] = {k: np.stack([s[k] for s in good]) for k in ("image", "im_shape", "scale_factor")}
    return {**batch, "extras": _Extras({"image_ids": [s["id"] for s in good]}, bad)}


class BatchLoader:
    """An iterable of batch dicts; `bad_images` counts, per path, images that failed to decode so far."""

    def __init__(
        self, dataset: Any, plan: list[list[Any]], collate: Callable[[list[Any]], dict[str, Any]], workers: int
    ) -> None:
        self.dataset, self.plan, self.collate, self.workers = dataset, plan, collate, workers
        self.bad_images: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.plan)

    def from_batch(self, start: int) -> BatchLoader:
        """The same batches from batch `start` on, without loading the ones before (to resume mid-epoch)."""
        return BatchLoader(self.dataset, self.plan[start:], self.collate, self.workers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self._raw_batches():
            extras: _Extras = raw.pop("extras")
            for path in extras.bad_paths:
                self.bad_images[path] = self.bad_images.get(path, 0) + 1
                log.warning("skipped an image that cannot be decoded: %s", path)
            if "image" not in raw:
                continue
            batch = {k: v if isinstance(v, np.ndarray) else v.numpy() for k, v in raw.items()}
            yield {**batch, **extras.values}

    def _raw_batches(self) -> Iterator[dict[str, Any]]:
        if self.workers <= 0:
            for keys in self.plan:
                yield self.collate([self.dataset[k] for k in keys])
            return
        from paddle.io import DataLoader

        loader = DataLoader(
            self.dataset,
            batch_sampler=_Plan(self.plan),
            collate_fn=self.collate,
            num_workers=self.workers,
        )
        batches = iter(loader)
        try:
            yield from batches
        finally:  # a consumer that stops early (islice, an error) must not leave the worker processes running
            shutdown = getattr(batches, "_try_shutdown_all", None)
            if shutdown is not None:
                shutdown()


class _Plan:
    """A fixed list of batches of dataset keys, in the shape paddle's DataLoader expects of a batch sampler."""

    def __init__(self, plan: list[list[Any]]) -> None:
        self.plan = plan
        self.batch_size = max((len(b) for b in plan), default=1)

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self.plan)


def make_train_loader(
    index: DatasetIndex,
    batch_size: int,
    sizes: list[int],
    flip: float,
    crop: bool,
    distort: bool,
    random_interp: bool,
    workers: int,
    seed: int,
    epoch: int,
    drop_last: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> BatchLoader:
    """Batches `{"image" [B,3,S,S], "gt_bboxes", "gt_classes", "image_ids"}` for one epoch of one rank.

    The epoch's order is a permutation from (seed, epoch), padded by wrapping to a multiple of
    `world_size` and dealt round-robin to ranks; each batch gets one size from `sizes`.
    """
    if len(index) == 0:
        raise PicodetError("the training set has no images", "check the dataset paths (see the dataset summary)")
    if batch_size < 1 or not sizes or min(sizes) < 1 or seed < 0 or epoch < 0 or not 0 <= rank < world_size:
        raise PicodetError(
            f"invalid loader settings: batch_size={batch_size} sizes={sizes} seed={seed} epoch={epoch} "
            f"rank={rank} world_size={world_size}",
            "use a positive batch size and sizes, a non-negative seed and epoch, 0 <= rank < world_size",
        )
    order = np.random.default_rng([seed, epoch, _SHUFFLE]).permutation(len(index))
    order = np.resize(order, math.ceil(len(index) / world_size) * world_size)[rank::world_size].tolist()
    count = len(order) // batch_size if drop_last else math.ceil(len(order) / batch_size)
    if count == 0:
        raise PicodetError(
            f"{len(order)} images per rank are fewer than one batch of {batch_size}",
            "use a smaller batch size or drop_last=False",
        )
    plan = []
    for b in range(count):
        size, interp = pick_resize(sizes, random_interp, np.random.default_rng([seed, epoch, _BATCH, b]))
        plan.append([(i, size, interp) for i in order[b * batch_size : (b + 1) * batch_size]])
    samples = _TrainSamples(index, TrainAugment(flip=flip, crop=crop, distort=distort), seed, epoch)
    return BatchLoader(samples, plan, _collate_train, workers)


def make_eval_loader(index: DatasetIndex, input_size: int, batch_size: int, workers: int) -> BatchLoader:
    """Batches `{"image" [B,3,S,S], "im_shape" [B,2], "scale_factor" [B,2], "image_ids"}` in dataset order,
    preprocessed exactly as `transforms.preprocess`; undecodable images are left out (and counted).
    """
    if batch_size < 1:
        raise PicodetError(f"invalid batch size {batch_size}", "use a positive batch size")
    indices = list(range(len(index)))
    plan = [indices[k : k + batch_size] for k in range(0, len(indices), batch_size)]
    return BatchLoader(_EvalSamples(index, input_size), plan, _collate_eval, workers)
