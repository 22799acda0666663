"""One export run: each format's writer (from the format table) into a staging folder, verify, rename into place.

FP32 runs export a PicoDet layer; INT8 runs (`options.quant_dir`) export the models of a `picodet quantize` folder
through the formats' INT8 writers, verified against that folder's FP32 ONNX. A format converted from another
(`Format.needs`: ncnn / MNN / OpenVINO from the simplified ONNX) gets that format written first. Every artifact
is staged and renamed into place (export/staging.py); every format is verified (unless disabled), and a
failing format never stops the others. A full disk stops the run with one line.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import MissingDependency, PicodetError
from .formats import DEFAULT_OPSET, HOST_TARGET, Format, get_format, load
from .staging import DiskFull, Staging, is_disk_full


@dataclass
class ExportOptions:
    """What to export and how (already checked against the format table)."""

    formats: list[Format]
    out_dir: Path
    postprocess: str = "none"
    fp16: bool = False
    opset: int = DEFAULT_OPSET
    target: str = "arm"
    verify: bool = True
    skipped: dict[str, str] = field(default_factory=dict)
    quant_dir: Path | None = None  # INT8: export the models of this `picodet quantize` folder


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
    """What a writer gets: the model (None for INT8), the options, its staging folder (`folder`), scratch space
    (`scratch()`) and the files of the formats it is converted from (`needed`)."""

    model: Any
    model_name: str
    class_names: list[str]
    options: ExportOptions
    staging: Staging
    base_meta: dict[str, Any] | None = None  # INT8: the metadata of the quantize folder's FP32 ONNX
    folder: Path = Path()
    written: dict[str, list[Path]] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, PicodetError] = field(default_factory=dict)

    @property
    def int8(self) -> bool:
        return self.options.quant_dir is not None

    @property
    def input_size(self) -> int:
        return int(self.base_meta["input_size"][0]) if self.base_meta else self.model.input_size

    def meta(self, fmt: str, fp16: bool = False) -> dict[str, Any]:
        from .metadata import build_metadata

        if self.base_meta is not None:
            return self.base_meta | {"format": fmt, "fp16": False}
        return build_metadata(self.model, self.model_name, self.class_names, self.options.postprocess, fmt, fp16)

    @cached_property
    def layer(self) -> Any:
        """The export layer of the plain model: the reference outputs (variants are the writers' business)."""
        from .deploy_graph import build_export_layer

        return build_export_layer(self.model, self.options.postprocess)

    def scratch(self) -> Any:
        """A scratch folder (context manager) inside the staging root, removed afterwards."""
        return self.staging.scratch()

    def needed(self, name: str) -> list[Path]:
        """The files of format `name`, written once (its failure is remembered and re-raised)."""
        if name in self.failures:
            raise PicodetError(f"needs the {name} export, which failed: {self.failures[name].message}")
        if name not in self.written:
            fmt = get_format(name)
            if fmt.needs and not self.int8:
                self.needed(fmt.needs)  # write (and time) the source format on its own
            start = time.perf_counter()
            try:
                self.written[name] = self._write(fmt)
            except PicodetError as error:
                self.failures[name] = error
                raise
            finally:
                self.step_seconds[name] = time.perf_counter() - start
        return self.written[name]

    def _write(self, fmt: Format) -> list[Path]:
        """Run the format's writer into its staging folder, add the sidecar, rename into place."""
        folder = self.folder = self.staging.folder(fmt.name)
        try:
            files = load(fmt.int8_writer if self.int8 else fmt.writer)(self)
            if fmt.sidecar:
                from .metadata import write_sidecar

                files.append(write_sidecar(folder, self.meta(fmt.name, self.options.fp16 and fmt.fp16)))
            final = self.staging.publish(fmt.name)
        except BaseException:
            self.staging.discard(fmt.name)
            raise
        return [final / p.relative_to(folder) for p in files]


def verify_file(fmt: Format, files: list[Path]) -> tuple[Path | None, Path | None]:
    """(the file to verify, an ARM-only file among `files`): the first main file this host runs, in the
    format's order (None when only ARM files were written)."""
    arm = next((p for p in files if fmt.is_arm_only(p.name)), None)
    for pattern in fmt.artifacts:
        for path in files:
            if fnmatch.fnmatch(path.name, pattern) and not fmt.is_arm_only(path.name):
                return path, arm
    if arm is None:
        raise PicodetError(f"the {fmt.name} export produced no {' / '.join(fmt.artifacts)} file")
    return None, arm


def precision(options: ExportOptions, fmt: Format) -> str:
    """The precision an artifact is verified at: int8, fp16 or fp32."""
    return "int8" if options.quant_dir else "fp16" if options.fp16 and fmt.fp16 else "fp32"


class Checker:
    """Verification inputs and reference outputs, made on first use (FP32: the Paddle layer; INT8: the FP32 ONNX)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @cached_property
    def reference(self) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...] | None]:
        """(feeds, reference outputs per feed, the inputs that are judged (None: all))."""
        from .verify import reference_outputs, verification_inputs

        if self.ctx.int8:
            from ..slim.export_quantized import int8_reference

            return int8_reference(self.ctx.options.quant_dir, self.ctx.input_size)
        feeds = verification_inputs(self.ctx.input_size, self.ctx.options.postprocess)
        return feeds, reference_outputs(self.ctx.layer, feeds), None

    def check(self, fmt: Format, result: FormatResult) -> None:
        from ..runtimes.registry import Artifact
        from .verify import verify_artifact

        path, arm = verify_file(fmt, result.files)
        if path is None:
            result.status, result.note = "unverified", f"{arm.name} runs on ARM CPUs only: not verified here"
            return
        feeds, reference, judged = self.reference
        meta = self.ctx.meta(fmt.name, self.ctx.options.fp16 and fmt.fp16)
        artifact = Artifact(fmt.name, fmt.runtime_name, path)
        check = verify_artifact(artifact, meta, feeds, reference, precision(self.ctx.options, fmt), judged=judged)
        result.verification = check.to_dict()
        result.status = "ok" if check.ok else "failed"
        result.error = None if check.ok else "; ".join(check.failures)
        if arm is not None:
            result.note = f"{arm.name} produced, verified via its {HOST_TARGET} twin {path.name}"


def run_export(
    model: Any,
    model_name: str,
    class_names: list[str],
    options: ExportOptions,
    progress: Callable[[str], None] = lambda _: None,
    base_meta: dict[str, Any] | None = None,
) -> tuple[list[FormatResult], dict[str, float]]:
    """Export `model` (a PicoDet layer; None with `options.quant_dir`, whose FP32 ONNX metadata is `base_meta`)
    to every format in `options`; never raises for one failing format (a full disk raises DiskFull)."""
    if model is not None:
        model.eval()
    staging = Staging(options.out_dir)
    ctx = Context(model, model_name, class_names, options, staging, base_meta)
    checker = Checker(ctx)
    results = []
    try:
        for fmt in options.formats:
            result = FormatResult(fmt.name)
            results.append(result)
            progress(f"{fmt.name} (INT8)" if ctx.int8 else fmt.name)
            start = time.perf_counter()
            try:
                if options.verify:
                    fmt.adapter().require()
                result.files = ctx.needed(fmt.name)
                result.status = "unverified"
                if options.verify:
                    checker.check(fmt, result)
            except DiskFull:
                raise
            except MissingDependency as error:
                result.status, result.error, result.hint = "missing", error.message, error.hint
            except PicodetError as error:
                result.status, result.error, result.hint = "failed", error.message, error.hint
            except Exception as error:  # a converter crash must not stop the other formats
                if is_disk_full(error):
                    raise DiskFull(options.out_dir / fmt.name) from None
                if os.environ.get("PICODET_DEBUG"):
                    raise
                result.status, result.error = "failed", f"{type(error).__name__}: {error}"
            if ctx.int8 and result.status == "unverified" and result.note is None:
                result.note = "not verified (--no-verify)"
            result.seconds = ctx.step_seconds.get(fmt.name, time.perf_counter() - start)
    finally:
        staging.close()
    return results, ctx.step_seconds
