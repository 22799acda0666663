"""Worker script run INSIDE the `legacy` toolchain (Python 3.10, paddlepaddle 2.6.2, paddlelite 2.13rc0).

Usage: `<toolchain python> legacy_worker.py JOB.json`, with PYTHONPATH holding only a folder that contains the
`picodet_cli` package (the main environment's site-packages are never on the path). The job is a JSON object
with an `action`; the worker writes `{"ok": ...}` or `{"error": "one line", "hint"?: ...}` to the job's `result` path.

Actions:
- `save`: build PicoDet from `arch` with picodet's own model code, load `state_dict` (.pdparams, safe loader,
  strict), and write the legacy inference program `<out>/model.pdmodel` + `.pdiparams` of the export layer for
  `postprocess` (`picodet_cli.export.deploy_graph`: `none` is the deploy forward, input `image` [1,3,S,S], outputs per
  level sigmoid scores [1,h*w,C] then box logits [1,h*w,4*(reg_max+1)]; `nms` adds input `scale_factor` [1,2]).
- `opt`: run Paddle-Lite's optimizer (`lite.Opt`, what `paddle_lite_opt` wraps) on `model`/`params` once per
  entry of `outputs` ({"target": "arm"|"x86", "fp16": bool, "path": "<stem>"}); writes `<stem>.nb`.
- `run`: run an x86 `.nb` on `inputs` (.npy paths in input order) and save every output as `<out>/output_<i>.npy`.
  Inputs go in via `resize` + `set_float_data` and outputs come back via `float_data` (`int32_data` for int
  outputs such as bbox_num), the paths that are reliable in 2.13rc0.
- `ptq`: static post-training quantization of a legacy program (`model`/`params`) with paddle's own
  `PostTrainingQuantization` (what paddleslim's `quant_post_static` wraps): calibration images from `calib` (a .npy
  [N,3,S,S], fed in batches of `batch_size`), activation `algo`, channel-wise abs-max weights of the ops of type
  `op_types`, conv+BN fused first;
  writes the INT8 program (Paddle's frozen fake-quant format) to `<out>/model.pdmodel` + `.pdiparams`.
- `qat_save`: rebuild PicoDet as in `save`, wrap it with `ImperativeQuantAware` (same settings as the QAT run),
  load the fake-quant state dict `state_dict` (weights and learned scales) and save the INT8 program to `<out>`.

Paddle and Paddle-Lite each ship their own OpenMP/MKL libraries, so one worker process only ever imports one.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np  # before paddle: with paddle first, jit.save segfaults in zlib


def _build(job: dict[str, Any]) -> Any:
    from picodet_cli.models.registry import build_model
    from picodet_cli.models.spec import ArchSpec

    arch = dict(job["arch"])
    arch["strides"] = tuple(arch["strides"])
    return build_model(ArchSpec(**arch), num_classes=int(job["num_classes"]), input_size=int(job["input_size"]))


def _input_spec(job: dict[str, Any]) -> list[Any]:
    import paddle

    size = int(job["input_size"])
    specs = [paddle.static.InputSpec([1, 3, size, size], "float32", "image")]
    if job.get("postprocess") == "nms":
        specs.append(paddle.static.InputSpec([1, 2], "float32", "scale_factor"))
    return specs


def save(job: dict[str, Any]) -> dict[str, Any]:
    import paddle

    from picodet_cli.export.deploy_graph import build_export_layer
    from picodet_cli.hub.safe_load import load_state_dict
    from picodet_cli.models.loading import load_weights

    model = _build(job)
    load_weights(model, load_state_dict(job["state_dict"]), strict=True, allow_class_change=False)
    prefix = Path(job["out"]) / "model"
    paddle.jit.save(build_export_layer(model, job["postprocess"]), str(prefix), input_spec=_input_spec(job))
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
    for i, path in enumerate(job["inputs"]):
        array = np.ascontiguousarray(np.load(path), dtype=np.float32)
        tensor = predictor.get_input(i)
        tensor.resize(list(array.shape))
        tensor.set_float_data(array.ravel().tolist())
    predictor.run()
    out = Path(job["out"])
    paths = []
    for i in range(len(predictor.get_output_names())):
        output = predictor.get_output(i)
        data = output.int32_data() if output.precision() == lite.PrecisionType.INT32 else output.float_data()
        array = np.asarray(data, dtype=np.float32).reshape(output.shape())
        paths.append(str(out / f"output_{i}.npy"))
        np.save(paths[-1], array)
    return {"outputs": paths}


QUANTIZABLE = ("conv2d", "depthwise_conv2d", "mul", "matmul", "matmul_v2")
PTQ_ALGOS = {"hist": "hist", "kl": "KL", "mse": "mse", "avg": "avg", "abs_max": "abs_max", "emd": "emd"}


def _calibration_loader(images: np.ndarray, batch_size: int) -> Any:
    """Calibration batches as PostTrainingQuantization wants them: a paddle.io.DataLoader it calls and len()s."""
    import paddle

    class Feeds(paddle.io.DataLoader):
        def __init__(self) -> None:  # no DataLoader state: PostTrainingQuantization only calls and len()s it
            self.batches = [{"image": images[i : i + batch_size]} for i in range(0, len(images), batch_size)]

        def __call__(self) -> Any:
            return iter(self.batches)

        def __len__(self) -> int:
            return len(self.batches)

    return Feeds()


def quantized_layers(model_file: Path) -> int:
    """Conv/linear ops of a saved INT8 program: fed by a dequantizing op (QDQ and QAT formats) or followed by
    one (Paddle's frozen PTQ format, which moves weight dequantization after the conv)."""
    import paddle

    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    program = paddle.static.load_inference_model(str(model_file.with_suffix("")), exe)[0]
    ops = program.global_block().ops
    dequant = [op for op in ops if "dequantize" in op.type]
    produced = {n for op in dequant for n in op.output_arg_names}
    consumed = {n for op in dequant for n in op.input_arg_names}
    return sum(
        1
        for op in ops
        if op.type in QUANTIZABLE and (produced & set(op.input_arg_names) or consumed & set(op.output_arg_names))
    )


def ptq(job: dict[str, Any]) -> dict[str, Any]:
    import paddle
    from paddle.static.quantization import PostTrainingQuantization

    paddle.enable_static()
    images = np.ascontiguousarray(np.load(job["calib"]), dtype=np.float32)
    feeds = _calibration_loader(images, int(job["batch_size"]))
    model = Path(job["model"])
    quant = PostTrainingQuantization(
        executor=paddle.static.Executor(paddle.CPUPlace()),
        model_dir=str(model.parent),
        model_filename=model.name,
        params_filename=Path(job["params"]).name,
        data_loader=feeds,
        batch_nums=len(feeds),
        algo=PTQ_ALGOS[job["algo"]],
        hist_percent=float(job["hist_percent"]),
        quantizable_op_type=list(job["op_types"]),
        weight_quantize_type="channel_wise_abs_max",
        # Paddle's frozen format: 5x faster to write than the QDQ one (which holds INT8 weights on disk), and
        # Paddle Inference and paddle_lite_opt read both
        onnx_format=False,
        optimize_model=True,
    )
    quant.quantize()
    out = Path(job["out"])
    quant.save_quantized_model(str(out), model_filename="model.pdmodel", params_filename="model.pdiparams")
    return _saved(out)


def _saved(out: Path) -> dict[str, Any]:
    model = out / "model.pdmodel"
    return {"model": str(model), "params": str(out / "model.pdiparams"), "quantized_layers": quantized_layers(model)}


def qat_save(job: dict[str, Any]) -> dict[str, Any]:
    import paddle
    from paddle.quantization import ImperativeQuantAware

    from picodet_cli.hub.safe_load import load_state_dict
    from picodet_cli.slim import QAT_SETTINGS

    model = _build(job)
    quant = ImperativeQuantAware(**QAT_SETTINGS)
    quant.quantize(model)
    state = load_state_dict(job["state_dict"])
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"QAT state dict does not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    model.eval()
    out = Path(job["out"])
    quant.save_quantized_model(model, str(out / "model"), input_spec=_input_spec(job))
    return _saved(out)


ACTIONS = {"save": save, "opt": opt, "run": run, "ptq": ptq, "qat_save": qat_save}


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
