"""Paddle-Lite's mAP in bench: every evaluation image run in one toolchain process (`run` starts one per call)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def varied_checkpoint(tmp_path_factory: pytest.TempPathFactory, dataset) -> Path:
    """PicoDet-S at 160 px with He-scaled random conv weights (the default init gives every image the same
    outputs), saved as a .pdparams file."""
    import paddle

    from picodet_cli.models.registry import build_model

    model = build_model("picodet-s", num_classes=len(dataset.class_names), input_size=160)
    rng = np.random.default_rng(0)
    state = {}
    for name, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if len(shape) == 4:
            state[name] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape).astype(np.float32)
        elif name.endswith("bias"):
            state[name] = rng.normal(0.0, 0.2, shape).astype(np.float32)
    model.set_state_dict(state)
    path = tmp_path_factory.mktemp("varied") / "s160.pdparams"
    paddle.save(model.state_dict(), str(path))
    return path


@pytest.mark.slow
def test_lite_map_comes_from_one_process_with_each_images_own_outputs(legacy, varied_checkpoint, dataset, bench_cache):
    from picodet_cli.bench import bench
    from picodet_cli.bench.local import Prefetched, runtime_detect_fn
    from picodet_cli.bench.request import BenchRequest
    from picodet_cli.data.index import read_dataset
    from picodet_cli.data.loader import make_eval_loader
    from picodet_cli.engine.evaluate import evaluate_detector
    from picodet_cli.runtimes.model import RuntimeModel

    report = bench(BenchRequest(
        "picodet-s", weights=str(varied_checkpoint), formats="lite", threads=1, imgsz=160, warmup=0, runs=1,
        data=dataset.val_annotations, images=dataset.val_images, verify=False, cache_dir=bench_cache,
    ))  # fmt: skip
    row = report.row("lite")
    assert row.status == "ok", row.error
    index = read_dataset("coco", dataset.val_images, dataset.val_annotations)
    model = RuntimeModel(Path(row.artifact).parent, threads=1)
    per_call, _ = evaluate_detector(runtime_detect_fn(model), index, 160, batch_size=1)  # one process per image
    assert row.map == pytest.approx(per_call.map, abs=1e-9) and row.map50 == pytest.approx(per_call.map50, abs=1e-9)
    prefetched = Prefetched(model.runtime, index, 160)
    seen = []
    for batch in make_eval_loader(index, 160, 1, workers=0):
        outputs = prefetched.run({"image": batch["image"]})
        for got, expected in zip(outputs, model.runtime.run({"image": batch["image"]}), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        seen.append(np.concatenate([o.ravel() for o in outputs]))
    assert prefetched.answered == len(index) == len(seen) > 1
    assert not np.array_equal(seen[0], seen[-1])  # each image its own outputs (not one shared output buffer)
