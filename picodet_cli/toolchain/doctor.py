"""Environment report: Python, Paddle, every converter and runtime, the cache, CPU features."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..settings import get_settings


@dataclass(frozen=True)
class Component:
    """An installable piece of the pipeline and what it is used for."""

    name: str
    distribution: str
    purpose: str
    install: str
    toolchain: str | None = None  # also found installed in this folder of the toolchains root (pip --target)


COMPONENTS: tuple[Component, ...] = (
    Component("paddle", "paddlepaddle", "model, training, Paddle Inference", "pip install paddlepaddle"),
    Component("paddle2onnx", "paddle2onnx", "export to ONNX", "pip install paddle2onnx"),
    Component("onnx", "onnx", "ONNX graphs and metadata", "pip install onnx"),
    Component("onnxsim", "onnxsim", "ONNX simplification", "pip install onnxsim"),
    Component("onnxslim", "onnxslim", "ONNX simplification (fallback)", "pip install onnxslim"),
    Component("onnxruntime", "onnxruntime", "ONNX runtime", "pip install onnxruntime"),
    Component("openvino", "openvino", "OpenVINO conversion and runtime", "pip install openvino"),
    Component("MNN", "MNN", "MNN conversion and runtime", "pip install MNN"),
    Component("ncnn", "ncnn", "ncnn runtime", "pip install ncnn"),
    Component(
        "pnnx", "pnnx", "ONNX -> ncnn converter (binary only)", "installed on the first ncnn export (online)", "pnnx"
    ),
    Component("faster-coco-eval", "faster-coco-eval", "COCO mAP (fast)", "pip install faster-coco-eval"),
    Component("pycocotools", "pycocotools", "COCO mAP (reference)", "pip install pycocotools"),
    Component("opencv", "opencv-python-headless", "image decoding and drawing", "pip install opencv-python-headless"),
)

X86_FEATURES = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8")
ARM_FEATURES = ("asimd", "asimdhp", "asimddp", "bf16", "i8mm", "sve")


def package_version(distribution: str, folder: Path | None = None) -> str | None:
    """The installed version of `distribution`: in this environment, or in `folder` (a pip --target folder)."""
    if folder is not None:
        found = metadata.distributions(name=distribution, path=[str(folder)])
        return next((d.version for d in found), None)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def component_row(comp: Component) -> dict[str, Any]:
    """What `doctor` shows for one component: version, where it was found, ok."""
    from .pnnx import toolchains_root

    version, where = package_version(comp.distribution), "environment"
    if version is None and comp.toolchain is not None:
        folder = toolchains_root() / comp.toolchain
        version, where = package_version(comp.distribution, folder), str(folder)
    return asdict(comp) | {"version": version, "where": where if version else None, "ok": version is not None}


def cpu_info() -> dict[str, Any]:
    """CPU model and the instruction-set features that decide fp16/bf16/int8 kernels."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware") and value.strip():
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
    wanted = ARM_FEATURES if platform.machine() in ("aarch64", "arm64") else X86_FEATURES
    return {
        "model": model,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "features": {name: name in flags for name in wanted},
    }


def directory_size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def report(cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Everything `picodet doctor` shows, as plain data."""
    settings = get_settings(cache_dir)
    components = [component_row(comp) for comp in COMPONENTS]
    return {
        "ok": all(row["ok"] for row in components),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "picodet": package_version("picodet"),
        "components": components,
        "cache": {
            "dir": str(settings.cache_dir),
            "size_bytes": directory_size(settings.cache_dir),
            "offline": settings.offline,
            "mirror": settings.mirror,
        },
        "cpu": cpu_info(),
        "tools": {name: shutil.which(name) for name in ("adb", "qemu-aarch64-static", "pyenv", "c++")},
    }
