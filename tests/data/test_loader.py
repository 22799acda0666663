"""Train and eval loaders on a tiny generated dataset: batch layout, determinism, workers, bad images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.data.index import read_dataset
from picodet_cli.data.loader import make_eval_loader, make_train_loader
from picodet_cli.data.records import DatasetIndex
from picodet_cli.data.synthetic import generate_shapes_dataset
from picodet_cli.data.transforms import preprocess, read_image
from picodet_cli.errors import PicodetError

SIZES = [96, 128, 160]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    data = generate_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_train=10, num_val=2, image_size=240)
    return read_dataset("coco", data.train_images, data.train_annotations, keep_empty=False)


def _train(index: DatasetIndex, workers: int = 0, epoch: int = 0, **kwargs) -> list[dict]:
    settings = {"batch_size": 4, "sizes": SIZES, "flip": 0.5, "crop": True, "distort": True, "random_interp": True}
    loader = make_train_loader(index, workers=workers, seed=7, epoch=epoch, **{**settings, **kwargs})
    return list(loader)


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys() and x["image_ids"] == y["image_ids"]
        np.testing.assert_array_equal(x["image"], y["image"])
        for key in ("gt_bboxes", "gt_classes"):
            for u, v in zip(x[key], y[key], strict=True):
                np.testing.assert_array_equal(u, v)


def test_train_batches_have_the_documented_layout(index: DatasetIndex) -> None:
    batches = _train(index)
    assert len(batches) == 2  # 10 images, batch 4, drop_last
    for batch in batches:
        assert set(batch) == {"image", "gt_bboxes", "gt_classes", "image_ids"}
        image = batch["image"]
        assert image.dtype == np.float32 and image.ndim == 4 and image.shape[:2] == (4, 3)
        size = image.shape[2]
        assert image.shape[3] == size and size in SIZES
        assert len(batch["gt_bboxes"]) == len(batch["gt_classes"]) == len(batch["image_ids"]) == 4
        for boxes, classes in zip(batch["gt_bboxes"], batch["gt_classes"], strict=True):
            assert boxes.dtype == np.float32 and boxes.shape == (len(classes), 4) and classes.dtype == np.int64
            assert (boxes >= 0).all() and (boxes <= size).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    ids = [i for b in batches for i in b["image_ids"]]
    assert len(set(ids)) == 8 and _train(index, drop_last=False)[-1]["image"].shape[0] == 2


def test_train_batches_are_reproducible_with_and_without_workers(index: DatasetIndex) -> None:
    first = _train(index, epoch=3)
    _assert_same(first, _train(index, epoch=3))
    _assert_same(first, _train(index, workers=2, epoch=3))
    loader = make_train_loader(index, 4, SIZES, 0.5, True, True, True, 0, 7, 3)
    _assert_same(first[1:], list(loader.from_batch(1)))
    other = _train(index, epoch=4)
    assert [b["image_ids"] for b in other] != [b["image_ids"] for b in first]


def test_ranks_share_out_the_epoch(index: DatasetIndex) -> None:
    shards = [_train(index, rank=r, world_size=3, batch_size=2, drop_last=False) for r in range(3)]
    ids = [[i for b in shard for i in b["image_ids"]] for shard in shards]
    assert [len(x) for x in ids] == [4, 4, 4]  # 10 images padded to 12
    assert set().union(*ids) == {r.image_id for r in index.records}
    sizes = [[b["image"].shape[2] for b in shard] for shard in shards]
    assert sizes[0] == sizes[1] == sizes[2]  # one size per step on every rank


def test_loader_settings_are_checked(index: DatasetIndex) -> None:
    with pytest.raises(PicodetError, match="fewer than one batch"):
        _train(index, batch_size=16)
    with pytest.raises(PicodetError, match="invalid loader settings"):
        _train(index, rank=2, world_size=2)


def test_undecodable_images_are_replaced_and_counted(index: DatasetIndex, tmp_path: Path) -> None:
    records = list(index.records)
    broken = tmp_path / "broken.jpg"
    shutil.copy(records[0].path, broken)
    broken.write_bytes(broken.read_bytes()[:20])
    records[0] = type(records[0])(**{**records[0].__dict__, "path": broken})
    bad = DatasetIndex(records, index.class_names, index.category_ids, {}, "test")
    loader = make_train_loader(bad, 5, [96], 0.5, True, True, False, 0, 0, 0)
    batches = list(loader)
    assert sum(len(b["image_ids"]) for b in batches) == 10 and loader.bad_images == {str(broken): 1}
    assert records[0].image_id not in [i for b in batches for i in b["image_ids"]]
    evaluation = make_eval_loader(bad, 128, 3, 0)
    ids = [i for b in evaluation for i in b["image_ids"]]
    assert ids == [r.image_id for r in records[1:]] and evaluation.bad_images == {str(broken): 1}


@pytest.mark.parametrize("workers", [0, 2])
def test_eval_loader_matches_preprocess(index: DatasetIndex, workers: int) -> None:
    batches = list(make_eval_loader(index, 160, 4, workers))
    assert [len(b["image_ids"]) for b in batches] == [4, 4, 2]
    records = iter(index.records)
    for batch in batches:
        assert set(batch) == {"image", "im_shape", "scale_factor", "image_ids"}
        for k, image_id in enumerate(batch["image_ids"]):
            rec = next(records)
            image, im_shape, scale_factor = preprocess(read_image(rec.path), 160)
            assert image_id == rec.image_id
            np.testing.assert_array_equal(batch["image"][k], image[0])
            np.testing.assert_array_equal(batch["im_shape"][k], im_shape[0])
            np.testing.assert_array_equal(batch["scale_factor"][k], scale_factor[0])


def test_stopping_early_shuts_the_workers_down(index: DatasetIndex) -> None:
    """A consumer that takes fewer batches than planned (as the trainer's islice does) leaves no worker behind."""
    import itertools
    import multiprocessing

    before = len(multiprocessing.active_children())
    batches = iter(make_train_loader(index, 2, SIZES, 0.5, False, False, False, 2, 0, 0))
    assert len(list(itertools.islice(batches, 1))) == 1
    assert len(multiprocessing.active_children()) > before, "the workers are running"
    batches.close()
    assert len(multiprocessing.active_children()) == before
