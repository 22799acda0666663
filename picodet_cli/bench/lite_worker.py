"""Runs INSIDE the `legacy` toolchain (Python 3.10, paddlelite): time an x86 `.nb` on saved input tensors.

Usage: `python lite_worker.py JOB.json` with {"nb", "inputs" (.npy [N, 1, 3, H, W]), "warmup", "runs", "out"}.
Run i feeds input i mod N; each timed call is input copy + run + output copy. Writes `<out>/timing.json`
(seconds per timed run) and `<out>/outputs_<k>.npy` (output k for every input, stacked).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    from paddlelite import lite

    config = lite.MobileConfig()
    config.set_model_from_file(job["nb"])
    predictor = lite.create_paddle_predictor(config)
    inputs = np.ascontiguousarray(np.load(job["inputs"]), dtype=np.float32)

    def call(x: np.ndarray) -> list[np.ndarray]:
        predictor.get_input(0).from_numpy(x)
        predictor.run()
        # copies: numpy() may share the predictor's output buffer, which the next run overwrites
        return [np.array(predictor.get_output(k).numpy()) for k in range(len(predictor.get_output_names()))]

    outputs = [call(x) for x in inputs]
    for i in range(job["warmup"]):
        call(inputs[i % len(inputs)])
    seconds = []
    for i in range(job["runs"]):
        start = time.perf_counter()
        call(inputs[i % len(inputs)])
        seconds.append(time.perf_counter() - start)
    out = Path(job["out"])
    for k in range(len(outputs[0])):
        np.save(out / f"outputs_{k}.npy", np.stack([o[k] for o in outputs]))
    (out / "timing.json").write_text(json.dumps({"seconds": seconds, "version": predictor.get_version()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
