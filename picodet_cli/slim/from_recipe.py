"""Entry points: quantize a model on a dataset (PTQ) or from a recipe (PTQ or QAT); `run_quantize_stage` for `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PicodetError
from ..recipe.loader import training_index, validation_index
from .pipeline import Progress, QuantSettings, broken, calibration_images, quantize


def settings_from_recipe(recipe: Any, method: str | None = None) -> QuantSettings:
    """QuantSettings from a recipe's [quantize] section (`method` overrides its method)."""
    q = recipe.quantize
    return QuantSettings(
        method=method or q.method, calib_images=q.calib_images, algo=q.algo, hist_percent=q.hist_percent,
        batch_size=q.batch_size,
    )  # fmt: skip


def ptq_model(
    model_name: str,
    weights: str | Path | None,
    index: Any,
    out_dir: Path,
    settings: QuantSettings,
    input_size: int | None = None,
    progress: Progress = lambda _: None,
    calib_index: Any | None = None,
) -> dict[str, Any]:
    """PTQ of a zoo model / architecture / run weights, evaluated against `index` and calibrated on `calib_index`
    (training images, so that the reported mAP is not measured on the calibration images; default `index`)."""
    from ..models.pretrained import create_model

    loaded = create_model(model_name, weights, num_classes=len(index.class_names), input_size=input_size)
    model = loaded.model
    source = calib_index if calib_index is not None else index
    calib = calibration_images(source, model.input_size, settings.calib_images, settings.batch_size)
    name = Path(model_name).stem if model_name.endswith(".pdparams") else model_name
    return quantize(
        model, name, index.class_names, out_dir, settings, calib, index, progress=progress,
        calib_source="training images" if calib_index is not None else "evaluation images",
    )  # fmt: skip


def qat_recipe_run(
    recipe: Any,
    weights: str | Path | None,
    out_dir: Path,
    settings: QuantSettings,
    resume: bool = False,
    reporter: Any = None,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """QAT as the recipe says (run folder `<output.dir>/qat`), then conversion and the report into `out_dir`."""
    import paddle

    from ..hub.safe_load import load_state_dict
    from ..io import write_json_atomic
    from ..models.pretrained import create_model
    from ..models.registry import build_model
    from .qat import QatTrainer, fp32_state_dict, qat_recipe
    from .report import REPORT

    qrecipe = qat_recipe(recipe, weights)
    trainer = QatTrainer(qrecipe, resume=resume, reporter=reporter)
    result = trainer.fit()
    if result.interrupted or result.last_weights is None:
        raise PicodetError("QAT was interrupted before its first checkpoint", f"resume it: --resume ({result.run_dir})")
    qat_state = result.last_weights
    arch, classes = trainer.model.arch, trainer.train_index.class_names
    model = build_model(arch, num_classes=trainer.model.num_classes, input_size=trainer.input_size)
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in fp32_state_dict(load_state_dict(qat_state)).items()})
    init = qrecipe.weights.init
    baseline = create_model(
        recipe.model.arch, None if init in (None, "none") else init, pretrained=False,
        num_classes=trainer.model.num_classes, input_size=trainer.input_size,
    ).model  # fmt: skip
    calib = calibration_images(trainer.train_index, trainer.input_size, settings.calib_images, settings.batch_size)
    report = quantize(
        model, recipe.model.arch, classes, out_dir, settings, calib, trainer.val_index, qat_state=qat_state,
        baseline=baseline, progress=progress, calib_source="training images",
    )  # fmt: skip
    report["qat"] = {"run_dir": str(result.run_dir), "epochs": result.epochs_done, "steps": result.steps,
                     "weights": str(qat_state)}  # fmt: skip
    write_json_atomic(out_dir / REPORT, report)
    return report


def quantize_recipe(
    recipe: Any,
    weights: str | Path | None = None,
    method: str | None = None,
    out_dir: Path | None = None,
    resume: bool = False,
    reporter: Any = None,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Quantize as a recipe's [quantize] section says; the report goes to `out_dir` (default `<output.dir>/quant`)."""
    settings = settings_from_recipe(recipe, method)
    out_dir = Path(out_dir or Path(recipe.output.dir) / "quant")
    if settings.method == "qat":
        return qat_recipe_run(recipe, weights, out_dir, settings, resume, reporter, progress)
    init = weights if weights is not None else recipe.weights.init
    return ptq_model(
        recipe.model.arch, None if init in (None, "none") else init, validation_index(recipe), out_dir, settings,
        recipe.model.input_size or None, progress, training_index(recipe),
    )  # fmt: skip


def run_quantize_stage(recipe: Any, weights: Path) -> dict[str, Any]:
    """The `quantize` stage of `picodet run`: quantize `weights` (the trained model) as the recipe says.

    Returns a JSON-able summary (INT8 artifact paths, FP32/INT8 mAP, report path, warnings); raises
    PicodetError when an INT8 artifact is clearly broken (after writing the report).
    """
    report = quantize_recipe(recipe, weights)
    summary = {
        "method": report["method"],
        "out_dir": report["out_dir"],
        "report": str(Path(report["out_dir"]) / "quant_report.json"),
        "artifacts": report["artifacts"],
        "fp32": report.get("fp32"),
        "int8": report.get("int8"),
        "drop": report.get("drop"),
        "warnings": report["warnings"],
        "ok": report["ok"],
    }
    if not report["ok"]:
        raise PicodetError("quantized model is broken: " + " | ".join(broken(report)), f"see {summary['report']}")
    return summary
