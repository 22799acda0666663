"""An export request (from flags or a recipe): checked into ExportOptions, then executed with a report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PicodetError


@dataclass
class ExportRequest:
    """Everything `export` needs, from flags or from a recipe."""

    model: str
    weights: str | None
    pretrained: bool
    to: str
    fp16: bool
    imgsz: int | None
    postprocess: str
    opset: int | None
    target: str | None
    out: Path | None
    verify: bool
    num_classes: int | None = None


def request_from_recipe(path: Path, overrides: list[str] | None = None, weights: Path | None = None) -> ExportRequest:
    """Export settings from a recipe's [model], [weights] and [export] sections."""
    from ..recipe.loader import load_recipe
    from .formats import FORMATS, get_format

    recipe = load_recipe(path, overrides or [])
    ex = recipe.export
    init = recipe.weights.init
    chosen = list(FORMATS) if "all" in ex.formats else [get_format(n) for n in ex.formats]
    # a recipe always holds opset and target: they only reach the formats that take them
    takes_opset, takes_target = any(f.opset for f in chosen), any(f.targets for f in chosen)
    return ExportRequest(
        model=str(weights) if weights else recipe.model.arch,
        weights=None if weights or init in (None, "", "none") else str(init),
        pretrained=False,
        to=",".join(ex.formats),
        fp16=ex.fp16,
        imgsz=ex.input_size or recipe.model.input_size,
        postprocess=ex.postprocess,
        opset=ex.opset if takes_opset else None,
        target=ex.target if takes_target else None,
        out=Path(ex.dir) if str(ex.dir) else Path(recipe.output.dir) / "export",
        verify=ex.verify,
        num_classes=recipe.model.num_classes,
    )


def plan(req: ExportRequest) -> tuple[Any, int]:
    """Check every flag before any work: (ExportOptions, input size); nothing is built yet."""
    from ..defaults import DEFAULT_INPUT_SIZE, check_input_size
    from ..zoo import load_zoo
    from .formats import DEFAULT_OPSET, select_formats
    from .pipeline import ExportOptions

    formats, skipped = select_formats(
        req.to, fp16=req.fp16, postprocess=req.postprocess, target=req.target, opset=req.opset
    )
    problem = None if req.imgsz is None else check_input_size(req.imgsz)
    if problem:
        raise PicodetError(f"--imgsz {problem}", "use e.g. 320 or 416")
    entry = load_zoo().find(req.model)
    size = req.imgsz or (entry.input_size if entry else None) or DEFAULT_INPUT_SIZE
    out = req.out or Path("runs/export") / f"{Path(req.model).name}-{size}"
    options = ExportOptions(
        formats=formats, out_dir=out, postprocess=req.postprocess, fp16=req.fp16,
        opset=req.opset or DEFAULT_OPSET, target=req.target or "arm", verify=req.verify, skipped=skipped,
    )  # fmt: skip
    return options, size


def execute(
    req: ExportRequest, options: Any, cache_dir: Path | None = None, progress: Callable[[str], None] = lambda _: None
) -> tuple[dict[str, Any], Path]:
    """Build the model, export every format, verify, and write export_report.json: (report, its path)."""
    from ..models.pretrained import create_model, state_digest
    from ..predict.predictor import default_class_names
    from .pipeline import run_export
    from .report import build_report, write_report

    loaded = create_model(
        req.model, req.weights, pretrained=req.pretrained, num_classes=req.num_classes, input_size=req.imgsz,
        cache_dir=cache_dir,
    )  # fmt: skip
    model = loaded.model
    name = Path(req.model).stem if req.model.endswith(".pdparams") else Path(req.model).name
    class_names = loaded.class_names or default_class_names(model.num_classes)
    results, steps = run_export(model, name, class_names, options, progress=progress)
    report = build_report(name, model.input_size, options, results, steps)
    report["weights_sha256"] = state_digest(model)  # lets `picodet bench` reuse this folder
    return report, write_report(report, options.out_dir)
