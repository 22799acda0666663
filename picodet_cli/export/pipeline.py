"""One export run: Paddle inference -> ONNX -> simplified ONNX -> ncnn / MNN / OpenVINO, Lite from its toolchain.

The Paddle artifact and the ONNX step each trace their own variant of the network, tuned for their runtimes:
upsampling without an interpolation op for Paddle Inference (oneDNN), channels padded to the SIMD width for
the ONNX-based formats (export/layout.py; oneDNN and MNN measured slower with it, onnxruntime faster).
ncnn / MNN / OpenVINO reuse the ONNX file. Every format is verified (unless disabled) against the plain
model, and a failing format never stops the others.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import MissingDependency, PicodetError
from .formats import FORMATS, Format
from .metadata import build_metadata, write_sidecar


@dataclass
class ExportOptions:
    """What to export and how (already checked against the format table)."""

    formats: list[Format]
    out_dir: Path
    postprocess: str = "none"
    fp16: bool = False
    opset: int = 11
    target: str = "arm"
    verify: bool = True
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class FormatResult:
    """The outcome for one format: status ok / failed / missing / unverified."""

    name: str
    status: str = "pending"
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    verification: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None
    note: str | None = None


@dataclass
class Context:
    """State shared by the steps of one run."""

    model: Any
    layer: Any  # the export layer: the reference outputs
    model_name: str
    class_names: list[str]
    options: ExportOptions
    intermediates: dict[str, list[Path]] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, PicodetError] = field(default_factory=dict)

    def meta(self, fmt: str, fp16: bool = False) -> dict[str, Any]:
        return build_metadata(self.model, self.model_name, self.class_names, self.options.postprocess, fmt, fp16)

    @cached_property
    def paddle_layer(self) -> Any:
        """The export layer's variant for Paddle Inference (built when the Paddle step runs)."""
        from .heads import build_export_layer
        from .paddle_inference import onednn_variant

        if self.options.postprocess == "nms":
            return self.layer
        return build_export_layer(onednn_variant(self.model), self.options.postprocess)

    @cached_property
    def onnx_layer(self) -> Any:
        """The export layer's variant for the ONNX-based formats (built when the ONNX step runs)."""
        from .heads import build_export_layer
        from .layout import pad_channels

        padded = pad_channels(self.model)
        return self.layer if padded is self.model else build_export_layer(padded, self.options.postprocess)


def _paddle(ctx: Context) -> list[Path]:
    from .paddle_inference import export_paddle

    out = ctx.options.out_dir / "paddle"
    files = export_paddle(ctx.paddle_layer, out, ctx.model.input_size, ctx.options.postprocess)
    return [*files, write_sidecar(out, ctx.meta("paddle"))]


def _onnx(ctx: Context) -> list[Path]:
    """From a Paddle program of its own variant of the network (the Paddle artifact's is tuned for oneDNN)."""
    from .onnx import export_onnx
    from .paddle_inference import export_paddle

    out = ctx.options.out_dir / "onnx" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="picodet-onnx-src-") as tmp:
        export_paddle(ctx.onnx_layer, Path(tmp), ctx.model.input_size, ctx.options.postprocess)
        return [export_onnx(Path(tmp), out, ctx.options.opset, ctx.meta("onnx"))]


def _ncnn(ctx: Context) -> list[Path]:
    from .ncnn import export_ncnn

    out = ctx.options.out_dir / "ncnn"
    files = export_ncnn(_needed(ctx, "onnx")[0], out, ctx.model.input_size, ctx.options.fp16)
    return [*files, write_sidecar(out, ctx.meta("ncnn", ctx.options.fp16))]


def _mnn(ctx: Context) -> list[Path]:
    from .mnn import export_mnn

    out = ctx.options.out_dir / "mnn"
    path = export_mnn(_needed(ctx, "onnx")[0], out / "model.mnn", ctx.options.fp16)
    return [path, write_sidecar(out, ctx.meta("mnn", ctx.options.fp16))]


def _openvino(ctx: Context) -> list[Path]:
    from .openvino import export_openvino

    out = ctx.options.out_dir / "openvino"
    files = export_openvino(_needed(ctx, "onnx")[0], out / "model.xml", ctx.options.fp16)
    return [*files, write_sidecar(out, ctx.meta("openvino", ctx.options.fp16))]


def _lite(ctx: Context) -> list[Path]:
    from ..runtimes.lite import LiteRuntime

    if not LiteRuntime.available():
        raise MissingDependency("picodet_cli.export.lite", "Paddle-Lite export", LiteRuntime.pip)
    import paddle

    from .lite import export_lite

    out = ctx.options.out_dir / "lite"
    targets = list(dict.fromkeys([ctx.options.target, "x86"]))
    with tempfile.TemporaryDirectory(prefix="picodet-lite-") as tmp:
        weights = Path(tmp) / "model.pdparams"
        paddle.save(ctx.model.state_dict(), str(weights))
        files = export_lite(
            weights, ctx.model.arch, ctx.model.num_classes, ctx.model.input_size, out, targets, ctx.options.fp16,
            ctx.options.postprocess,
        )  # fmt: skip
    return [*files, write_sidecar(out, ctx.meta("lite", ctx.options.fp16))]


STEPS: dict[str, Callable[[Context], list[Path]]] = {
    "paddle": _paddle, "onnx": _onnx, "ncnn": _ncnn, "mnn": _mnn, "openvino": _openvino, "lite": _lite,
}  # fmt: skip
DEPENDS = {f.name: "onnx" for f in FORMATS if f.needs_onnx and f.name != "onnx"}


def _needed(ctx: Context, step: str) -> list[Path]:
    """The files of an intermediate step, running it once (its failure is remembered and re-raised)."""
    if step in ctx.failures:
        raise PicodetError(f"needs the {step} export, which failed: {ctx.failures[step].message}")
    if step not in ctx.intermediates:
        if step in DEPENDS:
            _needed(ctx, DEPENDS[step])  # run (and time) the previous step on its own
        start = time.perf_counter()
        try:
            ctx.intermediates[step] = STEPS[step](ctx)
        except PicodetError as error:
            ctx.failures[step] = error
            raise
        finally:
            ctx.step_seconds[step] = time.perf_counter() - start
    return ctx.intermediates[step]


def verify_files(fmt: Format, files: list[Path]) -> Path:
    """The file to run for verification (the x86 twin for Lite)."""
    main = [p for p in files if p.name.endswith(fmt.suffix) and p.name != "picodet.json"]
    if fmt.name == "lite":
        main = [p for p in main if "x86" in p.name] or main
    if not main:
        raise PicodetError(f"the {fmt.name} export produced no {fmt.suffix} file")
    return main[0]


def run_export(
    model: Any,
    model_name: str,
    class_names: list[str],
    options: ExportOptions,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[list[FormatResult], dict[str, float]]:
    """Export `model` (a PicoDet layer) to every format in `options`; never raises for one failing format."""
    from ..runtimes.registry import runtime_class
    from .heads import build_export_layer
    from .verify import reference_outputs, verification_inputs, verify_artifact

    model.eval()
    ctx = Context(model, build_export_layer(model, options.postprocess), model_name, class_names, options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    feeds = reference = None
    results = []
    for fmt in options.formats:
        result = FormatResult(fmt.name)
        results.append(result)
        progress(fmt.name)
        start = time.perf_counter()
        try:
            if options.verify:
                runtime_class(fmt.runtime).require()
            result.files = _needed(ctx, fmt.name)
            result.status = "unverified"
            if options.verify:
                if feeds is None:
                    feeds = verification_inputs(model.input_size, options.postprocess)
                    reference = reference_outputs(ctx.layer, feeds)
                meta = ctx.meta(fmt.name, options.fp16 and fmt.fp16)
                check = verify_artifact(fmt, verify_files(fmt, result.files), meta, feeds, reference)
                result.verification = check.to_dict()
                result.status = "ok" if check.ok else "failed"
                result.error = None if check.ok else "; ".join(check.failures)
                if fmt.name == "lite" and options.target != "x86":
                    result.note = f"{options.target} .nb produced, verified via its x86 twin"
        except MissingDependency as error:
            result.status, result.error, result.hint = "missing", error.message, error.hint
        except PicodetError as error:
            result.status, result.error, result.hint = "failed", error.message, error.hint
        except Exception as error:  # a converter crash must not stop the other formats
            if os.environ.get("PICODET_DEBUG"):
                raise
            result.status, result.error = "failed", f"{type(error).__name__}: {error}"
        result.seconds = ctx.step_seconds.get(fmt.name, time.perf_counter() - start)
    return results, ctx.step_seconds
