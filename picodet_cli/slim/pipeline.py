"""One quantization run: FP32 exports -> Paddle INT8 (PTQ or QAT, legacy toolchain processes in the background)
beside OpenVINO / ONNX INT8 -> Lite INT8 -> checks -> report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError, ToolchainUnavailable
from ..export.formats import TARGETS

Progress = Callable[[str], None]


@dataclass
class QuantSettings:
    """How to quantize (the recipe's [quantize] section plus what the report measures)."""

    method: str = "ptq"  # ptq | qat
    calib_images: int = 80
    algo: str = "hist"
    hist_percent: float = 0.999
    batch_size: int = 8
    lite_targets: tuple[str, ...] = TARGETS
    threads: int = 2
    latency_runs: int = 20
    max_drop: float = 0.01  # mAP drop NNCF's accuracy control allows (absolute, 0.01 = 1 point)


def calibration_images(index: Any, input_size: int, count: int, batch_size: int = 8) -> np.ndarray:
    """The first `count` images of `index` through the eval preprocessing, as one [N,3,S,S] float32 array."""
    from ..data.loader import make_eval_loader

    images: list[np.ndarray] = []
    for batch in make_eval_loader(index, input_size, batch_size, workers=0):
        images.extend(batch["image"][: count - len(images)])
        if len(images) >= count:
            break
    if not images:
        raise PicodetError("no calibration image could be read", "check the dataset's image folder")
    return np.ascontiguousarray(np.stack(images), np.float32)


def quantize(
    model: Any,
    name: str,
    class_names: list[str],
    out_dir: Path,
    settings: QuantSettings,
    calib: np.ndarray,
    val_index: Any | None = None,
    qat_state: Path | None = None,
    baseline: Any | None = None,
    progress: Progress = lambda _: None,
    calib_source: str = "evaluation images",
) -> dict[str, Any]:
    """Quantize the FP32 PicoDet `model` and write every INT8 artifact and `quant_report.json` into `out_dir`.

    PTQ calibrates on `calib`; QAT (`qat_state`: the fake-quant state dict of a QAT run whose weights `model`
    carries) converts the trained scales. `baseline` is the FP32 model whose accuracy the report compares
    with (default `model`). Returns the report; `report["ok"]` is False when an INT8 artifact is clearly broken.
    """
    from ..io import atomic_write, write_json_atomic
    from .artifacts import artifact_meta, export_fp32, int8_artifacts
    from .onnx_int8 import conv_names, ort_method
    from .report import REPORT, measure, validation_metric
    from .verify import CALIB_SAMPLE, verify_int8

    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress("FP32 exports (Paddle inference, ONNX)")
    fp32 = export_fp32(model, name, class_names, out_dir)
    background = paddle_int8_program(model, out_dir, settings, calib, qat_state, fp32, progress)
    try:
        onnx_method = (ort_method(settings.algo), settings.hist_percent * 100)
        metric = validation_metric(fp32["onnx"], val_index, settings.threads) if val_index is not None else None
        files, layers = int8_artifacts(
            model, name, class_names, fp32, background.program, calib, out_dir, onnx_method,
            list(settings.lite_targets), progress, metric, len(val_index) if val_index is not None else 0,
            settings.max_drop,
        )  # fmt: skip
    finally:
        background.wait()  # nothing keeps writing into out_dir after an error here
    paddle_int8, failed = background.result(), background.failed
    progress("checking every INT8 artifact against the FP32 model")
    sample = calib[:1] if calib is not None and len(calib) else None
    if sample is not None:  # `picodet export QUANT_DIR` judges the INT8 models on it again
        with atomic_write(out_dir / CALIB_SAMPLE) as handle:
            np.save(handle, np.ascontiguousarray(sample, np.float32), allow_pickle=False)
    checks = verify_int8(model, files, artifact_meta(model, name, class_names, "onnx"), settings.threads, sample)
    warnings = [f"{key} not written: {why}" for key, why in failed.items()] + drop_broken_lite_x86(files, checks)
    measured = measure(
        baseline or model, {"fp32_paddle": fp32["paddle"], "fp32_onnx": fp32["onnx"], **files}, val_index,
        settings.threads, settings.latency_runs, progress,
    )  # fmt: skip
    total = len(conv_names(fp32["onnx"]))
    counts = {"onnx": layers["onnxruntime"]["integer_convs"], "openvino": layers["openvino"]["integer_convs"]}
    if paddle_int8:
        counts["paddle"] = paddle_int8["quantized_layers"]
    report = {
        "method": settings.method,
        "model": name,
        "input_size": model.input_size,
        "out_dir": str(out_dir),
        "settings": asdict(settings),
        "calibration": {
            "images": len(calib),
            "source": calib_source,
            "paddle_algo": settings.algo if qat_state is None else "qat scales",
            "onnxruntime_method": layers["onnxruntime"]["method"],
        },
        "artifacts": {k: str(v) for k, v in files.items()},
        "fp32_artifacts": {k: str(v) for k, v in fp32.items()},
        "quantized_layers": {**counts, "total": total},
        "layers": layer_notes(layers, total),
        "failed": failed,
        "verification": checks,
        **measured,
        "warnings": warnings,
        "ok": all(c["ok"] for c in checks.values() if c.get("counts", True)),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(out_dir / REPORT, report)
    return report


class Background:
    """A function running in a background thread (the legacy toolchain's processes, while this process makes the
    OpenVINO and ONNX INT8 models: on 2 cores they overlap); `result()` waits for it. A missing toolchain
    (ToolchainUnavailable) gives None, with `failed` saying why for the Paddle and Lite INT8 artifacts."""

    def __init__(self, run: Callable[[], dict[str, Any]]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.failed: dict[str, str] = {}
        pool = ThreadPoolExecutor(1, thread_name_prefix="picodet-paddle-int8")
        self.future = pool.submit(run)
        pool.shutdown(wait=False)

    def result(self) -> dict[str, Any] | None:
        try:
            return self.future.result()
        except ToolchainUnavailable as exc:
            self.failed = {key: f"{exc.message}; {exc.hint}" for key in ("paddle_int8", "lite_int8")}
            return None

    def program(self) -> Path | None:
        """The Paddle INT8 program's model file (waits), None when not made."""
        made = self.result()
        return made and made["model"]

    def wait(self) -> None:
        from concurrent.futures import wait

        wait([self.future])


def paddle_int8_program(
    model: Any,
    out_dir: Path,
    settings: QuantSettings,
    calib: np.ndarray,
    qat_state: Path | None,
    fp32: dict[str, Path],
    progress: Progress,
) -> Background:
    """The Paddle INT8 program (legacy toolchain), made in the background: PTQ of the FP32 legacy program (added
    to `fp32` as "legacy"), or the QAT state converted. The Paddle calls (saving the weights) happen here, before
    the thread starts; the thread only runs the toolchain's processes."""
    import tempfile

    import paddle

    from ..models.pretrained import state_digest
    from .artifacts import export_legacy, model_job, paddle_int8_ptq, paddle_int8_qat

    if qat_state is not None:  # model_job reads plain attributes of `model` only
        progress("converting the QAT model to a Paddle INT8 program (paddle 2.6.2, in the background)")
        return Background(lambda: paddle_int8_qat(model, qat_state, out_dir))
    job = model_job(model)
    progress(
        f"FP32 legacy program, then post-training quantization on {len(calib)} images ({settings.algo}, "
        "paddle 2.6.2), in the background"
    )
    saved = tempfile.TemporaryDirectory(prefix=".weights-", dir=out_dir)
    weights = Path(saved.name) / "model.pdparams"
    paddle.save(model.state_dict(), str(weights))
    digest = state_digest(model)

    def run() -> dict[str, Any]:
        try:
            fp32["legacy"] = export_legacy(job, weights, digest, out_dir)
        finally:
            saved.cleanup()
        return paddle_int8_ptq(
            fp32["legacy"], calib, out_dir, settings.algo, settings.hist_percent, settings.batch_size
        )

    return Background(run)


def layer_notes(layers: dict[str, Any], total: int) -> dict[str, Any]:
    """Per format: convs run as integer kernels (counted in the runtime's graph), convs kept FP32 by name, and why."""
    openvino = layers["openvino"]
    control = openvino["accuracy_control"]
    if control is None:
        measured = f"{openvino['scheme']} (no validation data, so nothing measured)"
    else:
        tried = ", ".join(f"{t['scheme']}: drop {t['drop'] * 100:.2f}" for t in openvino["schemes"])
        measured = (
            f"{openvino['scheme']}: the fastest scheme whose mAP drop is <= {control['max_drop'] * 100:.1f} points on "
            f"{control['val_images']} validation images (measured: {tried})"
        )
        if openvino["reverted"]:
            measured += f"; then {len(openvino['reverted'])} layers reverted by NNCF's accuracy control (measured)"
    why = {
        "openvino": f"{measured}; the others by NNCF's rules (convs whose input it does not quantize)",
        "onnxruntime": (
            f"the layers OpenVINO's accuracy control reverted ({len(openvino['reverted'])})"
            if openvino["reverted"]
            else "none: every conv INT8 (onnxruntime's QDQ convs need a quantized input and output)"
        )
        + f"; activations calibrated by {layers['onnxruntime']['method']}, "
        f"{layers['onnxruntime']['bias_corrected']} conv biases corrected to the FP32 mean output",
    }
    return {
        fmt: {key: info[key] for key in ("integer_convs", "float_convs", "kept_float")}
        | {"total_convs": total, "why": why[fmt]}
        for fmt, info in layers.items()
    }


LITE_X86 = "lite_int8_x86"
LITE_X86_NOTE = (
    "paddlelite 2.13rc0's x86 INT8 kernels give wrong scores for PicoDet (measured: score error ~1.0 on the "
    "stride-8 level for a trained model, Paddle-style and QDQ programs alike); the x86 .nb was deleted, and the arm "
    ".nb (ARM INT8 kernels) is unverified here"
)


def drop_broken_lite_x86(files: dict[str, Path], checks: dict[str, dict[str, Any]]) -> list[str]:
    """Delete a failing x86 INT8 .nb (a known Lite x86 kernel bug, see LITE_X86_NOTE); its check stops counting."""
    check = checks.get(f"{LITE_X86}/lite")
    if check is None or check["ok"]:
        return []
    files.pop(LITE_X86).unlink(missing_ok=True)
    check.update(counts=False, note=LITE_X86_NOTE)
    return [f"{LITE_X86}: {'; '.join(check['failures'])}: {LITE_X86_NOTE}"]


def broken(report: dict[str, Any]) -> list[str]:
    """One line per failed INT8 check that counts."""
    checks = report["verification"].items()
    return [f"{name}: {'; '.join(c['failures'])}" for name, c in checks if not c["ok"] and c.get("counts", True)]
