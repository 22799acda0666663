"""The root command: help lists every command, start-up stays light, errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from picodet_cli.cli.main import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "zoo",
        "info",
        "pull",
        "cache",
        "predict",
        "train",
        "eval",
        "quantize",
        "recipe",
        "export",
        "run",
        "bench",
        "toolchain",
        "demo",
        "doctor",
    ):
        assert command in result.output


def test_help_does_not_import_heavy_packages():
    code = (
        "import sys; from picodet_cli.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('paddle', 'numpy', 'cv2', 'onnx', 'onnxruntime', 'httpx') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_zoo_json_lists_all_models():
    result = runner.invoke(app, ["zoo", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == 19  # ten v1, nine v2
    s416 = next(r for r in rows if r["name"] == "s-416")
    assert s416["map"] == 30.6 and s416["input_size"] == 416 and s416["cached"] is False
    assert set(s416) >= {"name", "input_size", "map", "map50", "params_m", "gflops", "latency_ms", "url", "cached"}
    assert s416["url"] == "https://paddledet.bj.bcebos.com/models/picodet_s_416_coco.pdparams"


def test_zoo_filter_glob_and_table():
    result = runner.invoke(app, ["zoo", "l-*", "--json"])
    names = ["l-320", "l-416", "l-640", "l-320-v2", "l-416-v2", "l-640-v2"]
    assert [r["name"] for r in json.loads(result.output)] == names
    table = runner.invoke(app, ["zoo", "shufflenet"])
    assert table.exit_code == 0 and "shufflenetv2-1x-416" in table.output and "s-320" not in table.output


def test_info_by_alias_with_computed_numbers():
    result = runner.invoke(app, ["info", "picodet_s_320_coco", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["name"] == "s-320" and info["architecture"]["backbone"] == "esnet"
    assert abs(info["computed_params_m"] - 0.99) < 0.01
    assert abs(info["computed_gflops"] - info["gflops"]) / info["gflops"] < 0.05


def test_unknown_model_is_one_line_with_suggestion():
    result = runner.invoke(app, ["info", "s-415"])
    assert result.exit_code == 1
    assert "unknown model 's-415'" in result.output and "did you mean" in result.output
    assert "Traceback" not in result.output


def test_doctor_json_reports_components_and_cpu():
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    names = {c["name"]: c for c in info["components"]}
    assert names["paddle"]["ok"] and names["onnxruntime"]["version"]
    assert info["cpu"]["cores"] >= 1 and isinstance(info["cpu"]["features"], dict)
    assert info["cache"]["offline"] is False


def test_adb_takes_an_optional_serial():
    from picodet_cli.cli.main import command_line

    spelled = ["bench", "s-416", "--device", "arm", "--adb", "R58M", "--formats", "ncnn"]
    assert command_line(spelled) == [
        "bench",
        "s-416",
        "--device",
        "arm",
        "--adb",
        "--serial",
        "R58M",
        "--formats",
        "ncnn",
    ]
    assert command_line(["bench", "s-416", "--adb=R58M"]) == ["bench", "s-416", "--adb", "--serial", "R58M"]
    assert command_line(["bench", "--adb", "s-416"]) == ["bench", "--adb", "s-416"]  # the word is MODEL
    assert command_line(["bench", "--formats", "ncnn", "--adb", "s-416"]) == [
        "bench",
        "--formats",
        "ncnn",
        "--adb",
        "s-416",
    ]
    assert command_line(["bench", "s-416", "--adb", "--fp16"]) == ["bench", "s-416", "--adb", "--fp16"]


def test_adb_serial_through_the_real_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "picodet_cli", "bench", "s-320", "--adb", "R58M", "--formats", "onnx"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "--adb benchmarks on an Android phone" in done.stderr  # parsed: not "unexpected extra argument"
    assert "Traceback" not in done.stderr


def test_version_and_no_bool_type_beside_flags():
    from picodet_cli import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"picodet {__version__}"
    for args in (["--help"], ["predict", "--help"], ["recipe", "check", "--help"]):
        shown = runner.invoke(app, args).output
        assert "--help" in shown and "<bool>" not in shown, args


def test_warning_filters_reach_child_processes_without_invalid_w_options():
    from picodet_cli import QUIET_WARNINGS
    from picodet_cli.cli.main import child_warning_filters

    assert any("," in message for message in QUIET_WARNINGS), "the case this guards against"
    filters = child_warning_filters("default::DeprecationWarning")
    code = (
        "import warnings\n"
        "warnings.warn('When training, we now always track global mean and variance.', UserWarning)\n"
        "warnings.warn('No ccache found. Please be aware', UserWarning)\n"
        "warnings.warn('still shown', UserWarning)\n"
    )
    env = {"PYTHONWARNINGS": filters, "PATH": "/usr/bin:/bin"}
    stderr = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stderr
    assert "Invalid -W option" not in stderr and "still shown" in stderr
    assert "global mean" not in stderr and "ccache" not in stderr


def test_doctor_finds_pnnx_in_the_toolchains_folder(tmp_path, monkeypatch):
    folder = tmp_path / "pnnx" / "pnnx-20250101.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text("Metadata-Version: 2.1\nName: pnnx\nVersion: 20250101\n")
    monkeypatch.setenv("PICODET_TOOLCHAINS", str(tmp_path))
    info = json.loads(runner.invoke(app, ["doctor", "--json"]).output)
    pnnx = next(c for c in info["components"] if c["name"] == "pnnx")
    assert pnnx["ok"] and pnnx["version"] == "20250101" and pnnx["where"] == str(tmp_path / "pnnx")
    monkeypatch.setenv("PICODET_TOOLCHAINS", str(tmp_path / "none"))
    info = json.loads(runner.invoke(app, ["doctor", "--json"]).output)
    assert not next(c for c in info["components"] if c["name"] == "pnnx")["ok"] and not info["ok"]


def test_help_texts_keep_recipe_section_names():
    """`[quantize]` in a help text is rich markup unless escaped: it vanished from `quantize --help`."""
    import re

    shown = " ".join(runner.invoke(app, ["quantize", "--help"], terminal_width=200).output.split())
    assert len(re.findall(r"\[quantize\] section", shown)) == 2, shown
