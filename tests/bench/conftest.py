"""A random-init PicoDet-S checkpoint at 160 px, a tiny shapes dataset, and one shared benchmark of it."""

from __future__ import annotations

from pathlib import Path

import pytest

FORMATS = "paddle,onnx,openvino,ncnn,mnn"


@pytest.fixture(scope="session", autouse=True)
def session_toolchains(toolchains: Path) -> Path:
    """Every test here uses the session's toolchains folder (pnnx and the Lite venv installed once)."""
    return toolchains


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    from picodet_cli.data.synthetic import generate_shapes_dataset

    return generate_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_train=0, num_val=4, image_size=240)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, dataset) -> Path:
    """PicoDet-S weights (seeded random init, one class per shape) saved as a .pdparams file."""
    import paddle

    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=len(dataset.class_names), input_size=160)
    path = tmp_path_factory.mktemp("weights") / "s160.pdparams"
    paddle.save(model.state_dict(), str(path))
    return path


@pytest.fixture(scope="session")
def bench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One picodet cache for the whole session, so the exports are made once and reused."""
    return tmp_path_factory.mktemp("bench_cache")


@pytest.fixture(scope="session")
def bench_formats() -> list[str]:
    return FORMATS.split(",")


@pytest.fixture(scope="session")
def report(checkpoint: Path, dataset, bench_cache: Path):
    """The five CPU formats benchmarked with mAP on the shapes set (3 timed runs each)."""
    from picodet_cli.bench import bench
    from picodet_cli.bench.request import BenchRequest

    return bench(BenchRequest(
        "picodet-s", weights=str(checkpoint), formats=FORMATS, threads=1, imgsz=160, warmup=1, runs=3,
        data=dataset.val_annotations, images=dataset.val_images, verify=False, cache_dir=bench_cache,
        command=["picodet", "bench", "test"],
    ))  # fmt: skip
