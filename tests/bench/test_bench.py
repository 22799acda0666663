"""Local benchmark: one row per format with numbers, JSON report, export reuse, failures as rows."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.bench.peak import measure_peak_gflops
from picodet_cli.bench.request import BenchRequest
from picodet_cli.cli.main import app

LATENCY_KEYS = ("mean", "p50", "p90", "min")


def test_every_format_is_a_row_with_numbers(report, bench_formats):
    assert [r.format for r in report] == bench_formats
    for row in report:
        assert row.status == "ok", (row.format, row.error)
        assert all(getattr(row.latency, k) > 0 for k in LATENCY_KEYS) and row.latency.runs == 3
        assert row.e2e_ms > 0 and row.fps > 0 and row.size_mb > 0 and row.gflops_per_s > 0
        assert row.threads == 1 and row.runtime_version and Path(row.artifact).is_file()
        assert isinstance(row.map, float) and isinstance(row.map50, float) and 0 <= row.map <= row.map50 <= 1


def test_report_is_json_with_model_and_host(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["model"] == "picodet-s" and data["input_size"] == 160
    assert data["gflops"] > 0 and data["params"] > 0 and data["peak_gflops"] > 0
    assert {"cpu", "cores", "os", "packages", "command"} <= set(data["host"])
    assert data["host"]["command"] == "picodet bench test"
    assert data["host"]["packages"]["onnxruntime"]
    assert set(data["rows"][0]["latency"]) >= set(LATENCY_KEYS)
    assert data["map_unit"].startswith("fraction 0-1")


def test_table_shows_map_as_eval_does(report):
    """Fractions 0-1 with three decimals, as `picodet eval` prints them (not percentages)."""
    from rich.console import Console

    from picodet_cli.bench.table import bench_table

    data = report.to_dict()
    console = Console(record=True, width=250)
    console.print(bench_table(data))
    text = console.export_text()
    row = data["rows"][0]
    assert "mAP 0-1" in text and "mAP as a fraction 0-1" in text
    assert f"{row['map50']:.3f}" in text.split(row["format"], 1)[1].splitlines()[0]


def test_exports_are_reused_when_nothing_changed(report, checkpoint, bench_cache):
    from picodet_cli.bench import bench

    again = bench(BenchRequest("picodet-s", weights=str(checkpoint), formats="onnx,ncnn", threads=1, imgsz=160,
                               warmup=0, runs=1, cache_dir=bench_cache))  # fmt: skip
    assert [(r.format, r.status, r.reused) for r in again] == [("onnx", "ok", True), ("ncnn", "ok", True)]
    assert again.row("onnx").artifact == report.row("onnx").artifact


def test_an_unavailable_runtime_is_a_failed_row(report, checkpoint, bench_cache):
    """ncnn cannot be imported in a subprocess: its row says so, onnx still runs, the exit code is 0."""
    script = (
        "import sys; sys.modules['ncnn'] = None; from picodet_cli.cli.main import app; "
        "sys.argv = ['picodet', *sys.argv[1:]]; app()"
    )
    args = ["picodet-s", "--weights", str(checkpoint), "--imgsz", "160", "--formats", "onnx,ncnn", "--runs", "1",
            "--warmup", "0", "--threads", "1", "--json", "--cache-dir", str(bench_cache)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script, "bench", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {r["format"]: r for r in json.loads(proc.stdout)["rows"]}
    assert rows["onnx"]["status"] == "ok" and rows["onnx"]["latency"]["mean"] > 0
    assert rows["ncnn"]["status"] == "missing" and "ncnn" in rows["ncnn"]["error"]
    assert rows["ncnn"]["latency"] is None


def test_export_folder_is_benchmarked_as_it_is(report, tmp_path):
    from picodet_cli.bench import bench

    folder = Path(report.row("onnx").artifact).parents[1]
    result = bench(BenchRequest(str(folder), formats="onnx,lite", threads=1, warmup=0, runs=1))
    assert result.row("onnx").status == "ok" and result.row("onnx").reused
    assert result.row("lite").status == "failed" and "no lite/" in result.row("lite").error
    assert result.header["gflops"] > 0


@pytest.mark.skipif(platform.machine().lower() in ("aarch64", "arm64"), reason="x86 message")
def test_device_arm_on_x86_explains_what_it_needs():
    result = CliRunner().invoke(app, ["bench", "s-320", "--device", "arm"])
    assert result.exit_code == 1
    assert "aarch64" in result.output and "--adb" in result.output and "arm-emulator" in result.output


def test_bad_flags_are_refused_before_any_work():
    runner = CliRunner()
    assert "unknown export format" in runner.invoke(app, ["bench", "s-320", "--formats", "onxx"]).output
    assert "needs --images" in runner.invoke(app, ["bench", "s-320", "--data", "x.json"]).output
    assert "overrides the recipe given as --data" in runner.invoke(app, ["bench", "s-320", "--set", "a.b=1"]).output
    assert "add --device arm" in runner.invoke(app, ["bench", "s-320", "--adb"]).output


def test_help_lists_the_options():
    result = CliRunner().invoke(app, ["bench", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--formats", "--device", "--adb", "--runner", "--data", "--fp16", "--save"):
        assert option in result.output


def test_peak_probe_is_positive():
    assert measure_peak_gflops(size=128, budget_s=0.02) > 0


def test_zoo_models_get_a_published_row():
    from picodet_cli.bench.api import _published
    from picodet_cli.bench.source import Source
    from picodet_cli.zoo import load_zoo

    entry = load_zoo().get("s-320")
    source = Source("s-320", None, 320, 80, [], None, entry=entry)
    row = _published(source, weights=None)
    assert (row.format, row.status, row.map, row.latency.mean) == ("published", "published", 0.271, 7.78)
    assert "Snapdragon 888" in row.device
    assert _published(source, weights="mine.pdparams") is None


def test_recipe_bench_stage_uses_the_run_export(report, checkpoint, dataset, tmp_path):
    from picodet_cli.bench import run_bench_stage
    from picodet_cli.recipe.loader import load_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'[model]\narch = "picodet-s"\ninput_size = 160\n\n[data]\nroot = "{dataset.root}"\n'
        'val_images = "val/images"\nval_annotations = "val/annotations.json"\n'
        'classes = ["circle", "square", "triangle", "star"]\n\n'
        '[bench]\nformats = ["onnx"]\nthreads = 1\nwarmup = 0\nruns = 2\ndata = true\n'
    )
    export_dir = Path(report.row("onnx").artifact).parents[1]
    summary = run_bench_stage(load_recipe(recipe), checkpoint, export_dir)
    json.dumps(summary)
    (row,) = summary["rows"]
    assert row["status"] == "ok" and row["artifact"] == report.row("onnx").artifact
    assert isinstance(row["map"], float) and ": 4 images" in summary["data"]


def test_data_json_without_images_names_the_folder_it_needs(dataset):
    result = CliRunner().invoke(app, ["bench", "s-320", "--data", str(dataset.val_annotations)], terminal_width=300)
    assert result.exit_code == 1 and "needs --images FOLDER" in result.output
    first = json.loads(Path(dataset.val_annotations).read_text())["images"][0]["file_name"]
    assert f"the folder holding {first}" in result.output


def test_set_overrides_the_data_recipe(dataset, tmp_path):
    from picodet_cli.bench.inputs import load_index

    annotations = json.loads(Path(dataset.val_annotations).read_text())
    annotations["images"] = annotations["images"][:1]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(annotations))
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'[model]\narch = "picodet-s"\n\n[data]\nroot = "{dataset.root}"\nval_images = "val/images"\n'
        'val_annotations = "val/annotations.json"\nclasses = ["circle", "square", "triangle", "star"]\n'
    )
    assert len(load_index(recipe, None)) == 4
    assert len(load_index(recipe, None, [f'data.val_annotations="{one}"'])) == 1
