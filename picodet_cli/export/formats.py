"""The one table of export formats: it drives `--to`, `--list`, flag checks, `--to all` and the benchmark."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import PicodetError

POSTPROCESS_MODES = ("none", "decode", "nms")
TARGETS = ("arm", "x86")
DEFAULT_OPSET = 11


@dataclass(frozen=True)
class Format:
    """One export format: where its files go, what runs it, which flags it honours, how closely it must match."""

    name: str
    description: str
    suffix: str  # suffix of the main file
    runtime: str  # runtime adapter used for verification and predict
    pip: str  # what to install when the converter or runtime is missing
    needs_onnx: bool  # converted from the simplified ONNX
    fp16: bool  # honours --fp16
    opset: bool  # honours --opset
    targets: tuple[str, ...] = ()  # legal --target values (empty: --target is illegal)
    postprocess: tuple[str, ...] = ("none", "decode")
    score_atol: float = 1e-3  # FP32: absolute error allowed on sigmoid scores
    logit_rtol: float = 1e-4  # FP32: error allowed on logits, relative to their largest magnitude
    box_agreement: float = 0.995  # FP32: fraction of boxes matched (IoU >= 0.9, same class)
    fp16_box_agreement: float = 0.98
    fp16_score_atol: float = 1e-2  # FP16: score change that box agreement treats as noise (near-ties)

    def flags(self) -> list[str]:
        """The optional flags this format honours, for `--list`."""
        flags = [f"--postprocess {'|'.join(self.postprocess)}"]
        flags += ["--fp16"] if self.fp16 else []
        flags += ["--opset N"] if self.opset else []
        flags += [f"--target {'|'.join(self.targets)}"] if self.targets else []
        return flags


FORMATS: tuple[Format, ...] = (
    Format(
        "paddle", "Paddle inference model (PIR model.json)", ".json", "paddle", "paddlepaddle",
        needs_onnx=False, fp16=False, opset=False, postprocess=POSTPROCESS_MODES,
    ),
    Format(
        "onnx", "ONNX (paddle2onnx + onnxsim)", ".onnx", "onnxruntime", "paddle2onnx onnxsim onnxruntime",
        needs_onnx=True, fp16=False, opset=True, postprocess=POSTPROCESS_MODES,
    ),
    Format(
        "lite", "Paddle-Lite optimized model (.nb)", ".nb", "lite", "paddlelite (py3.10 toolchain)",
        needs_onnx=False, fp16=True, opset=False, targets=TARGETS, postprocess=POSTPROCESS_MODES,
    ),
    Format(
        "ncnn", "ncnn param/bin (via pnnx)", ".param", "ncnn", "ncnn pnnx",
        needs_onnx=True, fp16=True, opset=True,
    ),
    Format(
        "mnn", "MNN (.mnn)", ".mnn", "mnn", "MNN",
        needs_onnx=True, fp16=True, opset=True,
    ),
    Format(
        "openvino", "OpenVINO IR (.xml/.bin)", ".xml", "openvino", "openvino",
        needs_onnx=True, fp16=True, opset=True,
    ),
)  # fmt: skip

FORMAT_NAMES = tuple(f.name for f in FORMATS)


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
    if target is not None and target not in TARGETS:
        raise PicodetError(f"unknown --target '{target}'", f"use one of {', '.join(TARGETS)}")
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
