"""`picodet export`: --list, flag checks before any work, --to all with a missing runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from picodet_cli.cli import export as export_cli
from picodet_cli.cli.main import PicodetGroup
from picodet_cli.errors import PicodetError
from picodet_cli.export.formats import FORMATS, select_formats

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer(cls=PicodetGroup, pretty_exceptions_enable=False)
    export_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `export` a sub-command
    return app


def test_list_shows_every_format_and_its_flags():
    result = runner.invoke(make_app(), ["export", "--list"])
    assert result.exit_code == 0
    for fmt in FORMATS:
        assert fmt.name in result.output
    listed = json.loads(runner.invoke(make_app(), ["export", "--list", "--json"]).output)
    lite_flags = {f["name"]: f["flags"] for f in listed}["lite"]
    assert lite_flags == ["--postprocess none|decode|nms", "--fp16", "--target arm|x86"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "paddle", "--fp16"], "format 'paddle' cannot honour --fp16"),
        (["--to", "onnx", "--target", "arm"], "format 'onnx' cannot honour --target arm"),
        (["--to", "onnx,ncnn", "--postprocess", "nms"], "format 'ncnn' cannot honour --postprocess nms"),
        (["--to", "paddle", "--opset", "13"], "format 'paddle' cannot honour --opset"),
        (["--to", "onnxx"], "unknown export format 'onnxx'"),
        (["--to", "onnx", "--imgsz", "100"], "not a positive multiple of 32"),
    ],
)
def test_illegal_flags_fail_before_any_work(tmp_path, args, message):
    out = tmp_path / "out"
    result = runner.invoke(make_app(), ["export", "picodet-s", *args, "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output
    assert not out.exists()


def test_unknown_format_suggests_a_close_one():
    with pytest.raises(PicodetError) as info:
        select_formats("opnvino", fp16=False, postprocess="none", target=None, opset=None)
    assert info.value.hint == "did you mean openvino?"


def test_all_keeps_the_formats_that_can_honour_the_flags():
    chosen, skipped = select_formats("all", fp16=True, postprocess="none", target="x86", opset=None)
    assert [f.name for f in chosen] == ["lite", "ncnn", "mnn", "openvino"]
    assert set(skipped) == {"paddle", "onnx"} and "--fp16" in skipped["paddle"]


def test_cli_module_imports_nothing_heavy():
    code = "import sys, picodet_cli.cli.export\nprint([m for m in ('paddle', 'numpy', 'onnx') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


MISSING_MNN = """
import sys
sys.modules["MNN"] = None  # a real failing import: `import MNN` raises ImportError
sys.path.insert(0, sys.argv[1])
from tests.export.test_cli import make_app
make_app()(["export", "picodet-s", "--imgsz", "160", "--to", "all", "--out", sys.argv[2], "--json"])
"""


def test_all_with_a_missing_runtime_still_exports_the_rest(tmp_path, toolchains):
    out = tmp_path / "all"
    env = {**os.environ, "PICODET_HOME": str(tmp_path / "home"), "PICODET_TOOLCHAINS": str(toolchains)}
    proc = subprocess.run(
        [sys.executable, "-c", MISSING_MNN, str(REPO), str(out)], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((out / "export_report.json").read_text())
    assert json.loads(proc.stdout) == report
    statuses = {name: entry["status"] for name, entry in report["formats"].items()}
    assert statuses == {"paddle": "ok", "onnx": "ok", "lite": "ok", "ncnn": "ok", "mnn": "missing", "openvino": "ok"}
    assert report["formats"]["mnn"]["hint"] == "pip install MNN"
    assert "export failed for mnn" in proc.stderr


def test_recipe_drives_the_export(tmp_path):
    recipe = tmp_path / "export.toml"
    out = tmp_path / "from-recipe"
    recipe.write_text(
        '[model]\narch = "picodet-s"\ninput_size = 128\n\n[weights]\ninit = "none"\n\n'
        f'[export]\nformats = ["paddle"]\ndir = "{out}"\nverify = false\n'
    )
    for args in (["--recipe", str(recipe)], [str(recipe)]):
        result = runner.invoke(make_app(), ["export", *args, "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads((out / "export_report.json").read_text())
        assert report["input_size"] == 128 and report["formats"]["paddle"]["status"] == "unverified"
        assert report["ok"] and report["formats"]["paddle"]["verification"] is None
    result = runner.invoke(make_app(), ["export", "picodet-s", "--recipe", str(recipe)])
    assert result.exit_code == 1 and "drop MODEL and --to" in result.output


def test_dry_run_shows_the_plan_and_exports_nothing(tmp_path):
    out = tmp_path / "plan"
    args = ["export", "s-416", "--to", "all", "--fp16", "--out", str(out), "--dry-run", "--json"]
    result = runner.invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)
    assert planned["formats"] == ["lite", "ncnn", "mnn", "openvino"] and planned["input_size"] == 416
    assert set(planned["skipped"]) == {"paddle", "onnx"} and not out.exists()


def test_default_out_dir_is_runs_export_model_size():
    result = runner.invoke(make_app(), ["export", "picodet-s", "--to", "onnx", "--imgsz", "256", "--dry-run"])
    assert result.exit_code == 0 and "runs/export/picodet-s-256" in result.output
