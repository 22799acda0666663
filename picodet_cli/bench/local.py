"""Benchmark one exported artifact on this machine with its runtime (through `RuntimeModel`)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from .rows import BenchRow
from .timing import Latency, time_calls


def runtime_detect_fn(model: Any) -> Any:
    """A batch `DetectFn` (see engine/evaluate.py) that runs `model.detect` one image at a time."""

    def detect(images: np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        results = [
            model.detect(images[i : i + 1], im_shape[i : i + 1], scale_factor[i : i + 1]) for i in range(len(images))
        ]
        return np.concatenate([b for b, _ in results]), np.concatenate([n for _, n in results])

    return detect


class Prefetched:
    """A runtime that runs a list of inputs at once (`Runtime.time_runs`: Paddle-Lite, one toolchain process, where
    its `run` starts a process per call) given every evaluation image of `index` up front; `run` answers from those
    outputs (an input it did not see goes to the runtime)."""

    def __init__(self, runtime: Any, index: Any, input_size: int) -> None:
        from ..data.loader import make_eval_loader

        tensors = [batch["image"][i : i + 1] for batch in make_eval_loader(index, input_size, 1, workers=0)
                   for i in range(len(batch["image"]))]  # fmt: skip
        _, outputs = runtime.time_runs(tensors, 0, 0)
        self.runtime = runtime
        self.outputs = {_key(t): out for t, out in zip(tensors, outputs, strict=True)}
        self.answered = 0

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        found = self.outputs.get(_key(inputs["image"])) if len(inputs) == 1 else None
        if found is None:
            return self.runtime.run(inputs)
        self.answered += 1
        return [np.asarray(o) for o in found]


def _key(tensor: np.ndarray) -> bytes:
    import hashlib

    array = np.ascontiguousarray(tensor, np.float32)
    return hashlib.sha256(str(array.shape).encode() + array.tobytes()).digest()


class ArmOnly(PicodetError):
    """An artifact that only an ARM CPU runs."""


def _bench_in_one_process(row: BenchRow, model: Any, timed: tuple, images: list[np.ndarray], runs: int) -> None:
    """A runtime that timed its own runs in one process (`Runtime.time_runs`): end-to-end time is pre-processing
    and post-processing timed here plus the model call."""
    from ..data.transforms import preprocess

    postprocess_deploy = model.generation.postprocess_deploy()
    seconds, outputs = timed
    row.latency = Latency.from_seconds(seconds)
    row.threads, row.note = None, f"{row.runtime}'s Python API sets no thread count"
    scales = [preprocess(image, model.input_size)[2] for image in images]
    levels = len(outputs[0]) // 2

    def post(i: int) -> None:
        out, scale = outputs[i % len(outputs)], scales[i % len(scales)]
        postprocess_deploy(out[:levels], out[levels:], model.input_size, model.strides, model.reg_max, scale)

    pre = Latency.from_seconds(time_calls(lambda i: preprocess(images[i % len(images)], model.input_size), 1, runs))
    row.e2e_ms = pre.mean + row.latency.mean + Latency.from_seconds(time_calls(post, 1, runs)).mean


def bench_artifact(
    row: BenchRow,
    folder: Path,
    images: list[np.ndarray],
    tensors: list[np.ndarray],
    threads: int,
    warmup: int,
    runs: int,
    index: Any = None,
) -> BenchRow:
    """Fill `row` with latency, end-to-end time and (with `index`) mAP; errors become the row's status."""
    from ..data.transforms import preprocess
    from ..export.formats import get_format
    from ..runtimes.model import RuntimeModel

    try:
        fmt = get_format(row.format)
        model = RuntimeModel(folder, threads=threads)
        path = model.artifact.path
        if fmt.is_arm_only(path.name):
            raise ArmOnly(
                f"{path.name} is an ARM-only {fmt.name} file: it cannot run on this {platform.machine()} host"
            )
        row.artifact, row.runtime, row.threads = str(path), model.artifact.runtime, threads
        if row.size_mb is None or fmt.arm_only:  # the folder also holds the ARM twin: count this file alone
            row.size_mb = round(path.stat().st_size / 1e6, 4)
        timed = model.runtime.time_runs(tensors, warmup, runs)
        if timed is not None:
            _bench_in_one_process(row, model, timed, images, runs)
        else:
            scales = [preprocess(image, model.input_size)[1:] for image in images]
            feeds = [model.feeds(tensor, *scale) for tensor, scale in zip(tensors, scales, strict=True)]
            row.latency = Latency.from_seconds(
                time_calls(lambda i: model.runtime.run(feeds[i % len(feeds)]), warmup, runs)
            )

            def end_to_end(i: int) -> None:
                tensor, im_shape, scale = preprocess(images[i % len(images)], model.input_size)
                model.detect(tensor, im_shape, scale)

            row.e2e_ms = Latency.from_seconds(time_calls(end_to_end, warmup, runs)).mean
        row.runtime_version = model.runtime.version()
        row.fps = 1e3 / row.e2e_ms
        if index is not None:
            from ..engine.evaluate import evaluate_detector

            if timed is not None and model.postprocess != "nms":
                model.runtime = Prefetched(model.runtime, index, model.input_size[0])
            result, _ = evaluate_detector(runtime_detect_fn(model), index, model.input_size[0], batch_size=1)
            row.map, row.map50 = result.map, result.map50
    except ArmOnly as error:
        return row.fail("skipped", error.message, "time it on a phone: --device arm --adb [SERIAL]")
    except Exception as error:
        return row.fail_with(error)
    return row
