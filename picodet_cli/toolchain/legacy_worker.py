"""Worker script run INSIDE the `legacy` toolchain (Python 3.10, paddlepaddle 2.6.2, paddlelite 2.13rc0).

Usage: `<toolchain python> legacy_worker.py JOB.json`, with PYTHONPATH holding only a folder that contains the
`picodet_cli` package (the main environment's site-packages are never on the path). The job is a JSON object
with an `action`; the worker writes `{"ok": ...}` or `{"error": "one line", "hint"?: ...}` to the job's `result` path.

Actions:
- `save`: build PicoDet from `arch` with picodet's own model code, load `state_dict` (.pdparams, safe loader,
  strict), and write the legacy inference program `<out>/model.pdmodel` + `.pdiparams` for the deploy forward
  (input `image` [1,3,S,S]; outputs per level sigmoid scores [1,h*w,C], then box logits [1,h*w,4*(reg_max+1)]).
- `opt`: run Paddle-Lite's optimizer (`lite.Opt`, what `paddle_lite_opt` wraps) on `model`/`params` once per
  entry of `outputs` ({"target": "arm"|"x86", "fp16": bool, "path": "<stem>"}); writes `<stem>.nb`.
- `run`: run an x86 `.nb` on `input` (a .npy) and save every output as `<out>/output_<i>.npy`. Inputs go in via
  `resize` + `set_float_data` and outputs come back via `float_data`, the paths that are reliable in 2.13rc0.

Paddle and Paddle-Lite each ship their own OpenMP/MKL libraries, so one worker process only ever imports one.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np  # before paddle: with paddle first, jit.save segfaults in zlib


def save(job: dict[str, Any]) -> dict[str, Any]:
    import paddle

    from picodet_cli.hub.safe_load import load_state_dict
    from picodet_cli.models.detector import PicoDet
    from picodet_cli.models.loading import load_weights
    from picodet_cli.models.spec import ArchSpec

    if job["postprocess"] != "none":
        raise ValueError(f"postprocess '{job['postprocess']}' is not supported by the Paddle-Lite export")
    arch = dict(job["arch"])
    arch["strides"] = tuple(arch["strides"])
    size = int(job["input_size"])
    model = PicoDet(ArchSpec(**arch), num_classes=int(job["num_classes"]), input_size=size)
    load_weights(model, load_state_dict(job["state_dict"]), strict=True, allow_class_change=False)
    model.eval()
    spec = [paddle.static.InputSpec([1, 3, size, size], "float32", "image")]
    prefix = Path(job["out"]) / "model"
    paddle.jit.save(model, str(prefix), input_spec=spec)
    return {"model": f"{prefix}.pdmodel", "params": f"{prefix}.pdiparams"}


def opt(job: dict[str, Any]) -> dict[str, Any]:
    from paddlelite import lite

    written = []
    for output in job["outputs"]:
        optimizer = lite.Opt()
        optimizer.set_model_file(job["model"])
        optimizer.set_param_file(job["params"])
        optimizer.set_valid_places(output["target"])
        optimizer.set_model_type("naive_buffer")
        if output["fp16"]:
            optimizer.enable_fp16()
        optimizer.set_optimize_out(output["path"])
        optimizer.run()
        path = Path(output["path"] + ".nb")
        if not path.is_file():
            raise RuntimeError(f"paddle_lite_opt wrote no {path.name} (target {output['target']})")
        written.append(str(path))
    return {"nb": written}


def run(job: dict[str, Any]) -> dict[str, Any]:
    from paddlelite import lite

    config = lite.MobileConfig()
    config.set_model_from_file(job["nb"])
    predictor = lite.create_paddle_predictor(config)
    image = np.ascontiguousarray(np.load(job["input"]), dtype=np.float32)
    tensor = predictor.get_input(0)
    tensor.resize(list(image.shape))
    tensor.set_float_data(image.ravel().tolist())
    predictor.run()
    out = Path(job["out"])
    paths = []
    for i in range(len(predictor.get_output_names())):
        output = predictor.get_output(i)
        array = np.asarray(output.float_data(), dtype=np.float32).reshape(output.shape())
        paths.append(str(out / f"output_{i}.npy"))
        np.save(paths[-1], array)
    return {"outputs": paths}


ACTIONS = {"save": save, "opt": opt, "run": run}


def error_result(exc: BaseException) -> dict[str, str]:
    """`error` in one line (picodet's own errors keep their `hint`); for Paddle's C++ errors, the summary line."""
    if hasattr(exc, "hint"):  # a PicodetError: already written for the user
        return {"error": exc.message, "hint": exc.hint or ""}
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.strip().startswith("---")]
    if "Error Message Summary:" in lines[:-1]:
        lines = lines[lines.index("Error Message Summary:") + 1 :]
    return {"error": f"{type(exc).__name__}: {lines[0] if lines else '(no message)'}"}


def main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        result: dict[str, Any] = {"ok": ACTIONS[job["action"]](job)}
    except Exception as exc:  # every failure goes back as one line; the traceback stays in the log
        traceback.print_exc()
        result = error_result(exc)
    Path(job["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0 if "ok" in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
