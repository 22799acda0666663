"""Fast CPU training kernels as Paddle custom C++ operators: depthwise convolution, hard-swish, batch norm fused
with its activation, max pooling and 2x nearest upsampling.

Paddle's CPU gradients of the first two are scalar loops that cost several times their forward passes; they
were about half of a PicoDet training step on a CPU. Batch norm + activation in one op reads and writes each
feature map once instead of twice (batch norm was 16% of a step, the stem's max pool 5%). `enable()` compiles
`cpu_ops.cc` once per machine and Paddle version (`paddle.utils.cpp_extension`, `-O3 -march=native -fopenmp`, linked
to Paddle's own OpenMP runtime, about 30 s) into
`$PICODET_KERNELS_DIR` or `<cache>/kernels`, under a file lock, and loads it; the layers then use the ops in
training (outputs and gradients agree with Paddle's to float rounding). Without a C++ compiler, or with
`PICODET_FAST_KERNELS=0`, `enable()` says why and training runs on Paddle's own kernels. Evaluation, export and
inference never use them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from ..io import file_lock
from ..settings import get_settings

SWITCH_ENV = "PICODET_FAST_KERNELS"
DIR_ENV = "PICODET_KERNELS_DIR"
SOURCE = Path(__file__).with_name("cpu_ops.cc")
CFLAGS = ["-O3", "-march=native", "-std=c++17", "-fopenmp"]

_module: ModuleType | None = None  # loaded once per process (Paddle registers its ops once)
_active = False
_threads = 1


def kernels_root() -> Path:
    return Path(os.environ.get(DIR_ENV) or get_settings().cache_dir / "kernels")


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    found = re.search(r"^(flags|Features)\s*:(.*)$", text, re.MULTILINE)
    return found.group(2).strip() if found else ""


def build_dir() -> Path:
    """Folder of the build for this source, Paddle version, flags and CPU (a change means a new build)."""
    import paddle

    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (paddle.__version__, " ".join(CFLAGS + openmp_ldflags()), _cpu_signature()):
        digest.update(part.encode())
    return kernels_root() / f"cpu_ops-{digest.hexdigest()[:16]}"


def openmp_ldflags() -> list[str]:
    """Link OpenMP from Paddle's own libiomp5 (it implements GCC's OpenMP calls), so the kernels share the thread
    pool of MKL's GEMMs: with a pool of their own, two threads were no faster than one (each pool's idle threads
    spin). Without that library (other Paddle builds), the compiler's OpenMP."""
    import paddle

    libs = Path(paddle.__file__).parent / "libs"
    if not (libs / "libiomp5.so").is_file():
        return ["-fopenmp"]
    return [f"-L{libs}", "-liomp5", f"-Wl,-rpath,{libs}"]


def needs_build() -> bool:
    """True when `enable()` would compile (no finished build for this machine yet, and not switched off)."""
    if _module is not None or os.environ.get(SWITCH_ENV, "").strip() == "0":
        return False
    return not any(build_dir().rglob("*.so"))


def _compile_and_load(folder: Path) -> ModuleType:
    quiet = logging.getLogger("utils.cpp_extension")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            from paddle.utils import cpp_extension

            return cpp_extension.load(
                name="picodet_cpu_ops", sources=[str(SOURCE)], extra_cxx_cflags=CFLAGS,
                extra_ldflags=openmp_ldflags(),
                build_directory=str(folder), verbose=False,
            )  # fmt: skip
    finally:
        quiet.setLevel(level)


def enable(threads: int = 1) -> str | None:
    """Compile (first time) and load the kernels, run on `threads` threads; None when active, else why not."""
    global _module, _active, _threads
    if os.environ.get(SWITCH_ENV, "").strip() == "0":
        return f"{SWITCH_ENV}=0"
    if _module is None:
        folder = build_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with file_lock(folder.with_suffix(".lock")):
                _module = _compile_and_load(folder)
        except Exception as exc:  # no compiler, no headers, a failed build: fall back to Paddle's kernels
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"could not build them ({first_line[:160]})"
    _active, _threads = True, max(1, threads)
    return None


def disable() -> None:
    """Go back to Paddle's kernels (the compiled module stays loaded in the process)."""
    global _active
    _active = False


def active() -> bool:
    return _active


def depthwise_conv2d(x: Any, weight: Any, stride: int, padding: int) -> Any:
    """Depthwise conv (one group per channel, square kernel, no bias, NCHW float32)."""
    return _module.picodet_depthwise_conv(x, weight, stride, padding, _threads)


def hardswish(x: Any) -> Any:
    """Paddle's hard-swish (threshold 6, scale 6, offset 3) with a vectorised gradient."""
    return _module.picodet_hardswish(x)


def batch_norm_act(x: Any, norm: Any, act: int) -> Any:
    """Training-mode `norm` (a BatchNorm2D: batch statistics, running statistics updated) then activation `act`
    (ACT_CODES), in one op."""
    import paddle

    out, _, _, mean, variance = _module.picodet_batch_norm_act(
        x, norm.weight, norm.bias, norm._mean, norm._variance, norm._momentum, norm._epsilon, act, _threads
    )
    with paddle.no_grad():
        paddle.assign(mean, norm._mean)
        paddle.assign(variance, norm._variance)
    return out


ACT_CODES = {"identity": 0, "hard_swish": 1, "relu": 2}  # the activations batch_norm_act applies (cpu_ops.cc Act)


def upsample2x(x: Any) -> Any:
    """Nearest upsampling by 2 (NCHW float32)."""
    return _module.picodet_upsample2x(x, _threads)


def max_pool2d(x: Any, kernel: int, stride: int, padding: int) -> Any:
    """Max pooling (square window, implicit -inf padding, NCHW float32)."""
    return _module.picodet_max_pool(x, kernel, stride, padding, _threads)[0]
