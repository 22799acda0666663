"""Shared exports: each converter runs once per session and the tests read the artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from picodet_cli.export.formats import FORMATS, get_format
from picodet_cli.export.pipeline import ExportOptions, FormatResult, run_export


@pytest.fixture(scope="session", autouse=True)
def session_toolchains(toolchains: Path) -> Path:
    """Every test here uses the session's toolchains folder (pnnx and the Lite venv installed once)."""
    return toolchains


def export(model, out: Path, names: list[str], **options) -> dict[str, FormatResult]:
    """Run the pipeline on a built model; results by format name."""
    from picodet_cli.predict.predictor import default_class_names

    opts = ExportOptions(formats=[get_format(n) for n in names], out_dir=out, **options)
    results, _ = run_export(model, model.arch.name, default_class_names(model.num_classes), opts)
    return {r.name: r for r in results}


def random_model(arch: str, size: int, seed: int = 0):
    import paddle

    from picodet_cli.models.registry import build_model

    paddle.seed(seed)
    return build_model(arch, input_size=size)


@pytest.fixture(scope="session")
def s_model():
    return random_model("picodet-s", 160)


@pytest.fixture(scope="session")
def s_export(s_model, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, FormatResult]]:
    """A random-init PicoDet-S at 160 px exported to every format."""
    out = tmp_path_factory.mktemp("export") / "picodet-s-160"
    return out, export(s_model, out, [f.name for f in FORMATS], target="arm")


@pytest.fixture(scope="session")
def golden_model(golden_dirs: list[Path]):
    """PicoDet-S 320 with the golden perturbed weights: real, separated scores."""
    from picodet_cli.models.pretrained import create_model

    return create_model("picodet-s", golden_dirs[0] / "weights_perturbed.pdparams", input_size=320).model


@pytest.fixture(scope="session")
def golden_fp16_export(golden_model, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, FormatResult]]:
    """The golden model as FP32 Paddle and FP16 ncnn / MNN / OpenVINO (the FP32 ONNX in between is kept in onnx/)."""
    out = tmp_path_factory.mktemp("export") / "golden-fp16"
    return out, export(golden_model, out, ["paddle", "ncnn", "mnn", "openvino"], fp16=True)
