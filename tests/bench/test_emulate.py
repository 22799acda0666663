"""`bench --device arm --emulate`: aarch64 ONNX Runtime / ncnn / MNN under qemu, verified against Paddle.

PicoDet-S with the golden (perturbed, so scores are separated) weights at 64 px: emulation is ~100x slower.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from picodet_cli.bench.emulate import Emulator, emulated_row, reference, run_emulated
from picodet_cli.bench.rows import BenchRow
from picodet_cli.cli.main import app
from picodet_cli.errors import PicodetError
from picodet_cli.export.formats import PRECISIONS
from picodet_cli.export.verify import judge

EMULATED_FP16 = PRECISIONS["fp16-emulated"]

SIZE = 64
EMULATED = ("onnx", "ncnn", "mnn")

pytestmark = pytest.mark.skipif(platform.machine().lower() != "x86_64", reason="qemu-aarch64 runs on x86_64")


@pytest.fixture(scope="module")
def golden(golden_dirs: list[Path]) -> Path:
    return golden_dirs[0] / "weights_perturbed.pdparams"


@pytest.fixture(scope="module")
def fp32(arm_emulator_toolchain: Path, golden: Path, tmp_path_factory: pytest.TempPathFactory):
    """The bench API end to end (verify=False: checking the exports on the host is export verification's job)."""
    from picodet_cli.bench import bench
    from picodet_cli.bench.request import BenchRequest

    return bench(BenchRequest(
        "picodet-s", weights=str(golden), imgsz=SIZE, formats="onnx,ncnn,mnn,openvino", device="arm", emulate=True,
        threads=1, warmup=0, runs=1, verify=False, cache_dir=tmp_path_factory.mktemp("emulate"),
    ))  # fmt: skip


@pytest.fixture(scope="module")
def expected(golden: Path) -> tuple[dict, dict]:
    """The verification feeds and the Paddle model's outputs on them."""
    from picodet_cli.bench.source import resolve_source

    return reference(resolve_source("picodet-s", str(golden), SIZE))


@pytest.fixture(scope="module")
def emulator(arm_emulator_toolchain: Path) -> Emulator:
    return Emulator(arm_emulator_toolchain, "neoverse-n1")


@pytest.fixture(scope="module")
def fp16(fp32, expected, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> list[BenchRow]:
    """FP16 ncnn and MNN rows; converted from the FP32 run's ONNX (a second Paddle export would cost ~30 s)."""
    from picodet_cli.export.metadata import read_sidecar, write_sidecar
    from picodet_cli.export.mnn import export_mnn
    from picodet_cli.export.ncnn import export_ncnn

    exported, out = Path(fp32.row("onnx").artifact).parents[1], tmp_path_factory.mktemp("fp16")
    export_ncnn(exported / "onnx" / "model.onnx", out / "ncnn", SIZE, fp16=True)
    export_mnn(exported / "onnx" / "model.onnx", out / "mnn" / "model.mnn", fp16=True)
    rows = []
    for name in ("ncnn", "mnn"):
        write_sidecar(out / name, {**read_sidecar(exported / name), "fp16": True})
        rows.append(emulated_row(BenchRow(name), out / name, emulator, *expected, 1, 0, 1))
    return rows


@pytest.mark.slow
def test_fp32_runtimes_under_emulation_match_paddle_strictly(fp32):
    from picodet_cli.bench.table import bench_table

    assert [r.format for r in fp32] == [*EMULATED, "openvino"]
    for row in (fp32.row(name) for name in EMULATED):
        assert row.status == "ok", (row.format, row.error)
        assert row.device == "qemu-aarch64 neoverse-n1 (emulated)" and "meaningless" in row.note
        assert row.latency.runs == 1 and row.latency.mean > 0 and row.gflops_per_s is None and row.fps is None
        assert row.verification["ok"]
        for entry in row.verification["inputs"].values():
            assert entry["agreement"] >= 0.995 and entry["boxes"] > 0
            assert all(out["max_abs"] <= out["limit"] for out in entry["outputs"].values())
    assert {fp32.row(n).runtime_version for n in EMULATED} == {"1.32.0", "1.0.20261020", "3.6.1"}
    assert fp32.row("openvino").status == "skipped" and "no aarch64 openvino runtime" in fp32.row("openvino").note
    data = json.loads(json.dumps(fp32.to_dict()))
    assert data["device"] == "qemu-aarch64 neoverse-n1 (emulated)" and data["emulated"]["cpu"] == "neoverse-n1"
    assert (data["warmup"], data["runs"]) == (0, 1)
    assert "emulated" in str(bench_table(data).title)


@pytest.mark.slow
def test_fp16_kernels_under_emulation_agree_statistically(fp16):
    for row in fp16:
        assert row.status == "ok", (row.format, row.error)
        assert row.note.startswith("FP16 outputs verified") and "statistically" in row.verification["note"]
        for entry in row.verification["inputs"].values():
            assert entry["iou"] == EMULATED_FP16.match_iou and entry["agreement"] >= EMULATED_FP16.box_agreement
            assert all("mean_error" in out and "limit" not in out for out in entry["outputs"].values())


@pytest.mark.slow
def test_judge_rejects_diverged_outputs(fp32, expected):
    from picodet_cli.runtimes.model import RuntimeModel

    feeds, paddle = expected
    meta = RuntimeModel(Path(fp32.row("mnn").artifact).parent, threads=1).meta
    assert judge("fp32", meta, feeds, paddle, paddle).ok
    shifted = {k: [o + 0.01 for o in v] for k, v in paddle.items()}
    failed = judge("fp32", meta, feeds, paddle, shifted)
    assert not failed.ok and any("scores_0 diverged" in f for f in failed.failures)
    zeros = {k: [np.zeros_like(o) for o in v] for k, v in paddle.items()}
    assert not judge("fp16-emulated", {**meta, "fp16": True}, feeds, paddle, zeros).ok


@pytest.mark.slow
def test_export_folder_through_the_cli(fp32):
    """An export folder has no Paddle model: the host runtime's outputs are the reference."""
    folder = Path(fp32.row("mnn").artifact).parents[1]
    args = ["bench", str(folder), "--device", "arm", "--emulate", "--emulate-cpu", "cortex-a72", "--formats", "mnn",
            "--runs", "1", "--warmup", "0", "--threads", "1", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout[result.stdout.index("{") :])["rows"]
    assert row["status"] == "ok" and row["device"] == "qemu-aarch64 cortex-a72 (emulated)"
    assert row["verification"]["ok"] and row["reused"]


@pytest.mark.slow
def test_a_failing_emulated_run_is_one_line(emulator: Emulator, tmp_path: Path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx file")
    image = np.zeros((1, 3, SIZE, SIZE), np.float32)
    with pytest.raises(PicodetError, match=r"the emulated onnxruntime run failed \(exit code 1\): .*") as info:
        run_emulated(emulator, "onnxruntime", bad, False, [image], 1, (0, 1))
    assert "\n" not in info.value.message


def test_lite_row_only_checks_the_arm_nb(tmp_path: Path):
    emulator = Emulator(tmp_path, "neoverse-n1")
    (tmp_path / "model_x86.nb").write_bytes(b"x86")
    failed = emulated_row(BenchRow("lite"), tmp_path, emulator, {}, None, 1, 0, 1)
    assert failed.status == "failed" and "no ARM lite file" in failed.error
    (tmp_path / "model_arm_fp16.nb").write_bytes(b"arm")
    row = emulated_row(BenchRow("lite"), tmp_path, emulator, {}, None, 1, 0, 1)
    assert row.status == "ok" and row.artifact.endswith("model_arm_fp16.nb") and row.latency is None
    assert "no aarch64 lite runtime" in row.note


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--emulate"], "add --device arm"),
        (["--device", "arm", "--emulate", "--adb"], "--emulate and --adb exclude each other"),
        (["--device", "arm", "--emulate", "--formats", "paddle,openvino"], "none of these formats runs under"),
        (["--device", "arm", "--emulate", "--emulate-cpu", "pentium"], "unknown emulated CPU 'pentium'"),
        (["--emulate-cpu", "max"], "--emulate-cpu picks the CPU for --emulate"),
        (["--device", "arm", "--emulate", "--data", "x.json"], "--emulate measures no mAP"),
    ],
)
def test_bad_emulation_flags_are_refused_before_any_work(args: list[str], message: str):
    result = CliRunner().invoke(app, ["bench", "s-320", *args])
    assert result.exit_code == 1 and message in result.output
