"""Phone benchmarks through a stand-in `adb` (a script first on PATH): commands issued, timings parsed."""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest

from picodet_cli.bench.adb import Adb, parse_runner_output, runner_problem
from picodet_cli.bench.request import BenchRequest as Req
from picodet_cli.errors import PicodetError

OUTPUTS = {
    "lite": "======= Perf Info =======\nTime(unit: ms):\ninit  = 15.3\nfirst = 43.6\nmin   = 10.50\nmax   = 14.00\n"
    "avg   = 11.25\n",
    "ncnn": "loop_count = 3\nnum_threads = 2\npowersave = 2\n"
    "     model.ncnn.param  min =    7.80  max =    9.10  avg =    8.20\n",
    "mnn": "Forward type: CPU thread=2 precision=1\n[ - ] model.mnn    max =   13.000 ms  min =   12.000 ms  avg =   "
    "12.400 ms\n",
}
EXPECTED = {"lite": (11.25, 10.5), "ncnn": (8.2, 7.8), "mnn": (12.4, 12.0)}
FAKE_ADB = """#!{python}
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_ADB_STATE"])
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] == ["-s"]:
    args = args[2:]
if args == ["devices"]:
    print("List of devices attached")
    for serial in filter(None, os.environ.get("FAKE_ADB_DEVICES", "").split(",")):
        print(serial + "\\tdevice")
elif args[:3] == ["shell", "getprop", "ro.product.model"]:
    print("Pixel 7")
elif args[:1] == ["pull"]:
    fmt = args[1].split("/")[-2]
    Path(args[2]).write_text((state / (fmt + ".out")).read_text())
"""


def elf(path: Path, machine: int = 183) -> Path:
    """A file with an ELF64 header for `machine` (183: aarch64, 62: x86-64)."""
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(40))
    return path


@pytest.fixture
def fake_adb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in adb on PATH; one device `R5CT`; canned runner output per format."""
    bin_dir, state = tmp_path / "bin", tmp_path / "adb_state"
    bin_dir.mkdir()
    state.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    for fmt, text in OUTPUTS.items():
        (state / f"{fmt}.out").write_text(text)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ADB_STATE", str(state))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CT")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


@pytest.fixture
def phone_export(report, tmp_path: Path) -> Path:
    """The session's export folder plus a (dummy) arm .nb, as a Lite export would leave it."""
    folder = tmp_path / "export"
    source = Path(report.row("ncnn").artifact).parents[1]
    for name in ("ncnn", "mnn", "onnx"):
        shutil.copytree(source / name, folder / name)
    (folder / "lite").mkdir()
    (folder / "lite" / "model_arm.nb").write_bytes(b"nb")
    shutil.copy(source / "ncnn" / "picodet.json", folder / "lite" / "picodet.json")
    return folder


@pytest.fixture
def runners(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "runners"
    folder.mkdir()
    return [elf(folder / name) for name in ("benchmark_bin", "benchncnn", "benchmark.out")]


def test_runner_outputs_are_parsed():
    for fmt, text in OUTPUTS.items():
        latency = parse_runner_output(text)
        assert (latency.mean, latency.min) == EXPECTED[fmt]
    with pytest.raises(PicodetError, match="cannot read timings"):
        parse_runner_output("Segmentation fault\n")


def test_phone_rows_carry_the_parsed_timings(fake_adb, phone_export, runners):
    from picodet_cli.bench import bench

    lines: list[str] = []
    result = bench(Req(str(phone_export), formats="lite,ncnn,mnn,onnx", device="arm", adb="", runners=runners,
                       threads=2, warmup=1, runs=3), log=lines.append)  # fmt: skip
    rows = {r.format: r for r in result}
    for fmt, (mean, low) in EXPECTED.items():
        assert rows[fmt].status == "ok", rows[fmt].error
        assert (rows[fmt].latency.mean, rows[fmt].latency.min, rows[fmt].threads) == (mean, low, 2)
        assert rows[fmt].device == "Pixel 7" and rows[fmt].fps == pytest.approx(1e3 / mean)
    assert rows["onnx"].status == "skipped" and "no Android benchmark runner" in rows["onnx"].error
    assert result.header["device"] == "Pixel 7"
    issued = calls(fake_adb)
    assert issued[0] == ["devices"] and issued[1] == ["-s", "R5CT", "shell", "getprop", "ro.product.model"]
    assert ["-s", "R5CT", "push", str(phone_export / "ncnn" / "model.ncnn.param"),
            "/data/local/tmp/picodet-bench/ncnn/model.ncnn.param"] in issued  # fmt: skip
    shells = [c[3] for c in issued if c[2:3] == ["shell"]]
    assert "chmod 755 /data/local/tmp/picodet-bench/ncnn/benchncnn" in shells
    run_ncnn = next(s for s in shells if "./benchncnn" in s)
    assert "./benchncnn 3 2 2 -1 0 param=model.ncnn.param 'shape=[160,160,3]' > bench.log" in run_ncnn
    run_lite = next(s for s in shells if "./benchmark_bin" in s)
    assert "--threads=2" in run_lite and "--repeats=3" in run_lite and "--warmup=1" in run_lite
    assert "--optimized_model_path=model_arm.nb" in run_lite and "--power_mode=0" in run_lite
    pull = next(c for c in issued if c[2:3] == ["pull"] and "/mnn/" in c[3])
    assert pull[:4] == ["-s", "R5CT", "pull", "/data/local/tmp/picodet-bench/mnn/bench.log"]
    assert len(lines) == len(issued) and lines[0] == "adb devices"


def test_cpu_mask_runs_under_taskset(fake_adb, phone_export, runners):
    from picodet_cli.bench import bench

    bench(Req(str(phone_export), formats="mnn", device="arm", adb="R5CT", runners=runners, threads=4, runs=2,
              affinity="0xF0"))  # fmt: skip
    run = next(c[3] for c in calls(fake_adb) if c[2:3] == ["shell"] and "benchmark.out" in c[3] and "chmod" not in c[3])
    assert "taskset F0 ./benchmark.out . 2 5 0 4 1" in run


def test_no_device_no_adb_and_unfit_runners_are_one_line_each(fake_adb, phone_export, runners, monkeypatch, tmp_path):
    from picodet_cli.bench import bench

    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    with pytest.raises(PicodetError, match="no Android device connected"):
        Adb().connect()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "A,B")
    with pytest.raises(PicodetError, match="2 devices connected"):
        Adb().connect()
    with pytest.raises(PicodetError, match="device C is not connected"):
        Adb("C").connect()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CT")
    x86 = elf(tmp_path / "benchncnn", machine=62)
    script = tmp_path / "benchmark.out"
    script.write_text("#!/bin/sh\n")
    assert "not an arm64-v8a" in runner_problem(x86) and "no ELF header" in runner_problem(script)
    result = bench(Req(str(phone_export), formats="ncnn,mnn,lite", device="arm", adb="", runners=[x86, script], runs=1))
    errors = {r.format: r.error for r in result}
    assert "not an arm64-v8a" in errors["ncnn"] and "no ELF header" in errors["mnn"]
    assert "no benchmark_bin runner" in errors["lite"]
    with pytest.raises(PicodetError, match="unknown --affinity"):
        bench(Req(str(phone_export), formats="ncnn", device="arm", adb="", affinity="fast", runs=1))
    with pytest.raises(PicodetError, match="fits no format"):
        bench(Req(str(phone_export), formats="ncnn", device="arm", adb="", runners=[tmp_path / "mybench"], runs=1))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PicodetError, match="adb not found on PATH"):
        Adb()


def test_verbose_shows_the_adb_command_lines(fake_adb, phone_export, runners):
    from typer.testing import CliRunner

    from picodet_cli.cli.main import app

    args = ["bench", str(phone_export), "--formats", "ncnn", "--device", "arm", "--adb", "--runs", "2",
            "--runner", str(runners[1]), "--verbose"]  # fmt: skip
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "$ adb devices" in result.output and "$ adb -s R5CT push" in result.output
    assert "8.20" in result.output
