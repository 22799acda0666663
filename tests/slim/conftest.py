"""Shared slim fixtures: the legacy toolchain, a tiny shapes dataset and one PTQ run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from picodet_cli.toolchain import envs

SIZE = 128


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory):
    from picodet_cli.data.synthetic import generate_shapes_dataset

    return generate_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", 8, 4, 256)


@pytest.fixture(scope="session")
def val_index(shapes):
    from picodet_cli.data.index import read_dataset

    return read_dataset("coco", shapes.val_images, shapes.val_annotations)


@pytest.fixture(scope="session")
def ptq_report(legacy_toolchain: Path, val_index, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """PTQ of a random-init PicoDet-S (128 px, 4 classes) calibrated on the 4 generated validation images."""
    import paddle

    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.pipeline import QuantSettings, calibration_images, quantize

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=len(val_index.class_names), input_size=SIZE)
    settings = QuantSettings(calib_images=4, algo="abs_max", batch_size=2, latency_runs=3)
    calib = calibration_images(val_index, SIZE, settings.calib_images, settings.batch_size)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(legacy_toolchain))
        out = tmp_path_factory.mktemp("ptq") / "quant"
        return quantize(model, "picodet-s", val_index.class_names, out, settings, calib, val_index)
