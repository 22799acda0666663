"""The one table of export formats: everything about a format is its entry here.

`--to`, `--list`, the flag checks, `--to all`, the export steps (writer), where an artifact is found and what runs
it (runtimes/registry.py), INT8 export, `bench` rows, `--emulate` and `--adb` all read it. Adding a format is one
entry plus its writer module (export/) and its runtime adapter (runtimes/). Writers, INT8 writers, adapters and
device-runner argument builders are dotted paths, imported only when used, so this module stays light.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import PicodetError

POSTPROCESS_MODES = ("none", "decode", "nms")
TARGETS = ("arm", "x86")  # Paddle-Lite (and INT8 Lite) targets; x86 runs here, arm on devices
HOST_TARGET = "x86"
# ONNX opset of exports: 14 has HardSwish as one op, which OpenVINO and MNN run fused (demo model, same run:
# OpenVINO 3.8 ms instead of 8.8 at opset 11, MNN 5.4 instead of 8.0; onnxruntime and ncnn unchanged)
DEFAULT_OPSET = 14


@dataclass(frozen=True)
class Limits:
    """How closely an artifact must match its reference at one precision (judged by export/verify.py)."""

    box_agreement: float  # fraction of the top-100 boxes matched (same class, IoU >= match_iou)
    score_grid: float  # scores rounded to this grid before NMS (untrained heads tie everywhere)
    score_atol: float | None = None  # max |error| of sigmoid scores (None: not judged per value)
    logit_rtol: float | None = None  # max |error| of box logits, relative to max(1, their largest magnitude)
    tie_score: float | None = None  # score change that box agreement treats as a near-tie (None: no tie rules)
    match_iou: float = 0.9
    mean_score_atol: float | None = None  # mean |error| of scores (statistical judging, emulated FP16 kernels)
    mean_logit_rtol: float | None = None
    boxes_on_noise: bool = True  # box agreement also judged on the random-noise input


# INT8 cannot match FP32 to export tolerances: only a clearly broken model fails (mean score error above 0.05, or
# fewer than 10% of the boxes agreeing on the judged image). A single score may move a lot in a healthy INT8 model
# (trained demo model: up to 0.59 on one cell, mean 0.0004-0.0095 per level, mAP within 2.6 points); a broken one
# moves them all. Emulated FP16 runs real ARMv8.2 half-precision
# kernels, whose error is larger and (MNN) not reproducible run to run: judged by mean errors (measured on
# PicoDet-S, golden weights, 64 px, neoverse-n1: ncnn 0.034 logit error and 88% boxes at IoU 0.5, MNN 0.004).
PRECISIONS: dict[str, Limits] = {
    "fp32": Limits(box_agreement=0.995, score_grid=1e-5, score_atol=1e-3, logit_rtol=1e-4, tie_score=1e-3),
    "fp16": Limits(box_agreement=0.98, score_grid=1e-3, tie_score=1e-2),
    "int8": Limits(box_agreement=0.1, score_grid=1e-3, mean_score_atol=0.05, boxes_on_noise=False),
    "fp16-emulated": Limits(
        box_agreement=0.8, score_grid=1e-3, match_iou=0.5, mean_score_atol=0.01, mean_logit_rtol=0.05
    ),
}


@dataclass(frozen=True)
class DeviceRunner:
    """A format's native benchmark executable for Android phones (`bench --adb`)."""

    executable: str
    files: tuple[str, ...]  # artifact files to push (globs in the format folder), main file first
    arguments: str  # dotted path: fn(files, size, threads, warmup, runs, affinity) -> argv after the executable


@dataclass(frozen=True)
class Format:
    """One export format: how it is written, found, run, benchmarked; which flags it honours."""

    name: str
    description: str
    writer: str  # dotted path: fn(ctx: export.pipeline.Context) -> files written into ctx.folder
    runtime: str  # dotted path of its runtime adapter class (runtimes/)
    artifacts: tuple[str, ...]  # globs of the main file, preferred first (an x86 .nb before an arm one)
    pip: str  # what to install when the converter or runtime is missing
    search_rank: int  # order in which an export folder is searched for a runnable artifact (lowest first)
    needs: str | None = None  # the format this one is converted from (written first, kept in its folder)
    sidecar: bool = True  # metadata in picodet.json beside the files (False: embedded in the artifact)
    fp16: bool = False  # honours --fp16
    opset: bool = False  # honours --opset
    targets: tuple[str, ...] = ()  # legal --target values (empty: --target is illegal)
    postprocess: tuple[str, ...] = ("none", "decode")
    int8_writer: str | None = None  # dotted path: fn(ctx) writing the INT8 model of a `picodet quantize` folder
    arm_only: tuple[str, ...] = ()  # globs of files only an ARM CPU runs (verified through an x86 twin if any)
    emulated: bool = False  # its runtime adapter runs under qemu-aarch64 (`bench --device arm --emulate`)
    device_runner: DeviceRunner | None = None  # `bench --device arm --adb`

    def flags(self) -> list[str]:
        """The optional flags this format honours, for `--list`."""
        flags = [f"--postprocess {'|'.join(self.postprocess)}"]
        flags += ["--fp16"] if self.fp16 else []
        flags += ["--opset N"] if self.opset else []
        flags += [f"--target {'|'.join(self.targets)}"] if self.targets else []
        return flags

    def adapter(self) -> Any:
        """The runtime adapter class (imported now)."""
        return load(self.runtime)

    @property
    def runtime_name(self) -> str:
        """The runtime's name (its adapter module's name: onnxruntime, openvino, ncnn, mnn, paddle, lite)."""
        return self.runtime.rsplit(".", 2)[-2]

    def is_artifact(self, filename: str) -> bool:
        return any(fnmatch.fnmatch(filename, pattern) for pattern in self.artifacts)

    def is_arm_only(self, filename: str) -> bool:
        return any(fnmatch.fnmatch(filename, pattern) for pattern in self.arm_only)


def load(dotted: str) -> Any:
    """The object a dotted path `package.module.name` names (its module imported now)."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


_E = "picodet_cli.export"
_R = "picodet_cli.runtimes"
_Q = "picodet_cli.slim.export_quantized"

FORMATS: tuple[Format, ...] = (
    Format(
        "paddle", "Paddle inference model (PIR model.json)", f"{_E}.paddle_inference.write",
        f"{_R}.paddle.PaddleRuntime", ("model.json", "model.pdmodel"), "paddlepaddle", search_rank=4,
        postprocess=POSTPROCESS_MODES, int8_writer=f"{_Q}.write_paddle",
    ),
    Format(
        "onnx", "ONNX (paddle2onnx + onnxsim)", f"{_E}.onnx.write", f"{_R}.onnxruntime.OnnxRuntime", ("*.onnx",),
        "paddle2onnx onnxsim onnxruntime", search_rank=0, sidecar=False, opset=True, postprocess=POSTPROCESS_MODES,
        int8_writer=f"{_Q}.write_onnx", emulated=True,
    ),
    Format(
        "lite", "Paddle-Lite optimized model (.nb)", f"{_E}.lite.write", f"{_R}.lite.LiteRuntime",
        ("*x86*.nb", "*.nb"), "paddlelite (py3.10 toolchain)", search_rank=5, fp16=True, targets=TARGETS,
        postprocess=POSTPROCESS_MODES, int8_writer=f"{_Q}.write_lite", arm_only=("*arm*.nb",),
        device_runner=DeviceRunner("benchmark_bin", ("model_arm*.nb",), f"{_R}.lite.benchmark_bin_arguments"),
    ),
    Format(
        "ncnn", "ncnn param/bin (via pnnx)", f"{_E}.ncnn.write", f"{_R}.ncnn.NcnnRuntime", ("*.ncnn.param",),
        "ncnn pnnx", search_rank=2, needs="onnx", fp16=True, opset=True, emulated=True,
        device_runner=DeviceRunner("benchncnn", ("*.ncnn.param", "*.ncnn.bin"), f"{_R}.ncnn.benchncnn_arguments"),
    ),
    Format(
        "mnn", "MNN (.mnn)", f"{_E}.mnn.write", f"{_R}.mnn.MnnRuntime", ("*.mnn",), "MNN", search_rank=3,
        needs="onnx", fp16=True, opset=True, emulated=True,
        device_runner=DeviceRunner("benchmark.out", ("*.mnn",), f"{_R}.mnn.benchmark_out_arguments"),
    ),
    Format(
        "openvino", "OpenVINO IR (.xml/.bin)", f"{_E}.openvino.write", f"{_R}.openvino.OpenVinoRuntime", ("*.xml",),
        "openvino", search_rank=1, needs="onnx", fp16=True, opset=True, int8_writer=f"{_Q}.write_openvino",
    ),
)  # fmt: skip

FORMAT_NAMES = tuple(f.name for f in FORMATS)
INT8_FORMATS = tuple(f.name for f in FORMATS if f.int8_writer)
EMULATED_FORMATS = tuple(f.name for f in FORMATS if f.emulated or f.arm_only)
DEVICE_FORMATS = tuple(f.name for f in FORMATS if f.device_runner)


def get_format(name: str) -> Format:
    """The format called `name`; unknown names raise with close matches."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    close = difflib.get_close_matches(name, FORMAT_NAMES, n=2)
    hint = f"did you mean {' or '.join(close)}?" if close else f"formats: {', '.join(FORMAT_NAMES)}, all"
    raise PicodetError(f"unknown export format '{name}'", hint)


def illegal_flags(fmt: Format, *, fp16: bool, postprocess: str, target: str | None, opset: int | None) -> list[str]:
    """The given flags `fmt` cannot honour, as short phrases (empty when all are fine)."""
    problems = []
    if fp16 and not fmt.fp16:
        problems.append("--fp16")
    if postprocess not in fmt.postprocess:
        problems.append(f"--postprocess {postprocess}")
    if target is not None and target not in fmt.targets:
        problems.append(f"--target {target}")
    if opset is not None and not fmt.opset:
        problems.append("--opset")
    return problems


def check_target(target: str | None) -> None:
    if target is not None and target not in TARGETS:
        raise PicodetError(f"unknown --target '{target}'", f"use one of {', '.join(TARGETS)}")


def select_int8_formats(spec: str) -> list[Format]:
    """Parse `--to` for a `picodet quantize` folder: the formats with an INT8 writer, or all of them."""
    names = list(INT8_FORMATS) if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in INT8_FORMATS]
    if unknown or not names:
        raise PicodetError(
            f"a quantized model exports to {', '.join(INT8_FORMATS)} only (not {', '.join(unknown) or 'nothing'})",
            "export the FP32 model for the other formats",
        )
    return [get_format(n) for n in dict.fromkeys(names)]


def select_formats(
    spec: str, *, fp16: bool, postprocess: str, target: str | None, opset: int | None
) -> tuple[list[Format], dict[str, str]]:
    """Parse `--to` ("onnx,ncnn" or "all") and check the flags, before any work.

    An explicit list with a flag one of its formats cannot honour raises. `all` means every format that can
    honour --fp16 and --postprocess (--target and --opset only reach the formats that take them); the others
    are returned as {name: reason} so the report can list them.
    """
    if postprocess not in POSTPROCESS_MODES:
        raise PicodetError(f"unknown --postprocess '{postprocess}'", f"use one of {', '.join(POSTPROCESS_MODES)}")
    check_target(target)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise PicodetError("no export format given", f"use --to with any of {', '.join(FORMAT_NAMES)} or all")
    flags = {"fp16": fp16, "postprocess": postprocess, "target": target, "opset": opset}
    if names == ["all"]:
        chosen, skipped = [], {}
        for fmt in FORMATS:
            problems = illegal_flags(fmt, fp16=fp16, postprocess=postprocess, target=None, opset=None)
            if problems:
                skipped[fmt.name] = f"cannot honour {', '.join(problems)}"
            else:
                chosen.append(fmt)
        if not chosen:
            raise PicodetError("no format can honour these flags together", "run `picodet export --list`")
        return chosen, skipped
    chosen = [get_format(n) for n in dict.fromkeys(names)]
    for fmt in chosen:
        problems = illegal_flags(fmt, **flags)
        if problems:
            legal = " ".join(fmt.flags())
            raise PicodetError(f"format '{fmt.name}' cannot honour {', '.join(problems)}", f"{fmt.name} takes {legal}")
    return chosen, {}
