"""Paddle-Lite export: state dict -> legacy Paddle program (paddle 2.6.2) -> `.nb` per target (paddle_lite_opt).

Paddle-Lite has no wheel for this Python and reads only legacy `.pdmodel` programs, which paddle 3.x cannot
write for sigmoid/exp/sum/matmul; both steps therefore run in the `legacy` toolchain (see
`picodet_cli.toolchain.envs`), provisioned on first use. Files written to `out_dir`:

- `legacy/model.pdmodel` + `legacy/model.pdiparams`: the export layer for the postprocess mode (`none`: input
  `image` [1,3,S,S]; outputs per level sigmoid scores [1,h*w,C], then per level box logits
  [1,h*w,4*(reg_max+1)], as `PicoDet.forward`; `decode` and `nms` as in `picodet_cli.export.deploy_graph`);
- `model_<target>[_fp16].nb` for each target: `arm` (with `_fp16` when `fp16`: FP16 kernels, ARMv8.2+) and
  `x86` (always FP32; `fp16` is ignored there). x86 files run here (`run_lite`) and stand in for verifying
  their arm twins, which need an ARM device.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependency, PicodetError
from ..models.spec import ArchSpec
from ..toolchain.legacy import run_job, work_dir
from .formats import HOST_TARGET, POSTPROCESS_MODES, TARGETS


def write(ctx: Any) -> list[Path]:
    """The `lite` format: the target's .nb and its x86 twin (which verification runs here)."""
    from ..runtimes.lite import LiteRuntime

    if not LiteRuntime.available():
        raise MissingDependency("picodet_cli.export.lite", "Paddle-Lite export", LiteRuntime.pip)
    import paddle

    from ..models.pretrained import state_digest

    model = ctx.model
    with ctx.scratch() as work:
        weights = work / "model.pdparams"
        paddle.save(model.state_dict(), str(weights))
        return export_lite(
            weights, model.arch, model.num_classes, model.input_size, ctx.folder,
            list(dict.fromkeys([ctx.options.target, HOST_TARGET])), ctx.options.fp16, ctx.options.postprocess, work,
            state_digest(model),
        )  # fmt: skip


def nb_name(target: str, fp16: bool) -> str:
    """`model_<target>[_fp16].nb`; FP16 applies to arm only."""
    return f"model_{target}{'_fp16' if fp16 and target == 'arm' else ''}.nb"


def _check_targets(targets: list[str]) -> list[str]:
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise PicodetError(
            f"bad Paddle-Lite target(s): {', '.join(unknown) or 'none given'}", f"one of: {', '.join(TARGETS)}"
        )
    return list(dict.fromkeys(targets))


def optimize_program(
    model_file: Path, params_file: Path, out_dir: Path, targets: list[str], fp16: bool, workdir: Path | None = None
) -> list[Path]:
    """Run paddle_lite_opt on a legacy program once per target; returns the `.nb` paths written to `out_dir`."""
    targets = _check_targets(targets)
    with work_dir(workdir or out_dir) as work:
        outputs = [{"target": t, "fp16": fp16 and t == "arm", "path": str(work / f"opt_{t}")} for t in targets]
        files = {"model": str(Path(model_file).resolve()), "params": str(Path(params_file).resolve())}
        job = {"action": "opt", **files, "outputs": outputs}
        written = run_job(job, work, "paddle_lite_opt (" + ", ".join(targets) + ")")["nb"]
        paths = []
        for target, nb in zip(targets, written, strict=True):
            paths.append(out_dir / nb_name(target, fp16))
            os.replace(nb, paths[-1])
    return paths


def export_lite(
    state_dict_path: Path,
    arch: ArchSpec,
    num_classes: int,
    input_size: int,
    out_dir: Path,
    targets: list[str],
    fp16: bool,
    postprocess: str = "none",
    workdir: Path | None = None,
    digest: str | None = None,
) -> list[Path]:
    """Export a PicoDet state dict to Paddle-Lite `.nb` files (one per target); returns their paths. The legacy
    program is kept in `out_dir/legacy`; temporary files go to `workdir` (default: inside `out_dir`). `digest`:
    the state dict's `state_digest`, which lets `save_legacy_program` reuse this process's last program."""
    targets = _check_targets(targets)
    if postprocess not in POSTPROCESS_MODES:
        raise PicodetError(f"unknown postprocess '{postprocess}'", f"one of: {', '.join(POSTPROCESS_MODES)}")
    if not Path(state_dict_path).is_file():
        raise PicodetError(f"state dict not found: {state_dict_path}")
    out_dir = Path(out_dir)
    legacy = out_dir / "legacy"
    with work_dir(workdir or out_dir) as work:
        job = {"arch": asdict(arch), "num_classes": num_classes, "input_size": input_size, "postprocess": postprocess}
        save_legacy_program(job, Path(state_dict_path), legacy, work, digest)
        return optimize_program(
            legacy / "model.pdmodel", legacy / "model.pdiparams", out_dir, targets, fp16, workdir=work
        )


def run_lite(nb_path: Path, image: np.ndarray, *extra: np.ndarray) -> list[np.ndarray]:
    """Run an x86 `.nb` on a preprocessed [1,3,H,W] float32 image (then `extra` inputs, e.g. scale_factor for
    nms); returns the outputs in program order."""
    nb_path = Path(nb_path)
    if not nb_path.is_file():
        raise PicodetError(f"Paddle-Lite model not found: {nb_path}")
    if "arm" in re.split(r"[^a-z0-9]+", nb_path.stem.lower()):
        raise PicodetError(
            f"{nb_path.name}: arm .nb files cannot run on x86; verified via the x86 twin",
            "export with --target x86 as well and run model_x86.nb, or copy the arm file to an ARM device",
        )
    with work_dir() as work:
        inputs = [str(work / f"input_{i}.npy") for i in range(1 + len(extra))]
        for path, array in zip(inputs, (image, *extra), strict=True):
            np.save(path, np.ascontiguousarray(array, dtype=np.float32))
        job = {"action": "run", "nb": str(nb_path.resolve()), "inputs": inputs, "out": str(work)}
        result = run_job(job, work, f"running {nb_path.name} with Paddle-Lite")
        return [np.load(path) for path in result["outputs"]]


# The last legacy program this process saved: (key, a private folder with copies of its two files). `picodet run`
# saves the same one twice (the quantize stage's FP32 legacy program, then the export stage's Lite model).
_LAST_SAVE: list[tuple[str, Any]] = []
LEGACY_FILES = ("model.pdmodel", "model.pdiparams")


def save_legacy_program(job: dict[str, Any], state_dict: Path, legacy: Path, work: Path, digest: str | None) -> None:
    """The legacy program of the network `job` describes (arch, num_classes, input_size, postprocess) with the
    weights `state_dict` -> `legacy/model.pdmodel` + `.pdiparams` (the legacy worker's `save`, paddle 2.6.2).
    With `digest` (`state_digest` of those weights): when this process's last save was the same job with the same
    digest, its files are copied instead."""
    import hashlib
    import json
    import shutil
    import tempfile

    key = hashlib.sha256(f"{digest};{json.dumps(job, sort_keys=True)}".encode()).hexdigest() if digest else None
    if key is not None and _LAST_SAVE and _LAST_SAVE[0][0] == key:
        legacy.mkdir(parents=True, exist_ok=True)
        for name in LEGACY_FILES:
            shutil.copyfile(Path(_LAST_SAVE[0][1].name) / name, legacy / name)
        return
    request = {"action": "save", **job, "state_dict": str(state_dict.resolve()), "out": str(work / "legacy")}
    saved = run_job(request, work, "saving the legacy Paddle program (paddle 2.6.2)")
    legacy.mkdir(parents=True, exist_ok=True)
    for name in ("model", "params"):
        os.replace(saved[name], legacy / Path(saved[name]).name)
    if key is not None:
        kept = tempfile.TemporaryDirectory(prefix="picodet-legacy-")  # removed when replaced or at exit
        for name in LEGACY_FILES:
            shutil.copyfile(legacy / name, Path(kept.name) / name)
        _LAST_SAVE[:] = [(key, kept)]
