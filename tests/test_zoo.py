"""zoo.toml: the ten v1 and nine v2 models as published, validated on load with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from picodet_cli.cli.main import app
from picodet_cli.errors import PicodetError
from picodet_cli.zoo import load_zoo, parse_zoo

PUBLISHED = {
    "s-320": (320, 27.1, 41.4, 0.99, 0.73, 7.78, "picodet_s_320_coco"),
    "s-416": (416, 30.6, 45.5, 0.99, 1.24, 11.84, "picodet_s_416_coco"),
    "m-320": (320, 30.9, 45.7, 2.15, 1.48, 10.56, "picodet_m_320_coco"),
    "m-416": (416, 34.3, 49.8, 2.15, 2.50, 15.87, "picodet_m_416_coco"),
    "l-320": (320, 32.6, 47.9, 3.24, 2.18, 12.82, "picodet_l_320_coco"),
    "l-416": (416, 35.9, 51.7, 3.24, 3.69, 19.42, "picodet_l_416_coco"),
    "l-640": (640, 40.3, 57.1, 3.24, 8.74, 41.52, "picodet_l_640_coco"),
    "shufflenetv2-1x-416": (416, 30.0, 44.6, 1.17, 1.53, 14.76, "picodet_shufflenetv2_1x_416_coco"),
    "mobilenetv3-large-1x-416": (416, 35.6, 52.0, 3.55, 2.80, 18.87, "picodet_mobilenetv3_large_1x_416_coco"),
    "lcnet-1.5x-416": (416, 36.3, 52.2, 3.10, 3.85, 19.75, "picodet_lcnet_1_5x_416_coco"),
}
# v2 (PaddleDetection README, develop): size, mAP, mAP50, params M, GFLOPs, CPU ms (i7-10750H), Lite ms (SD865)
PUBLISHED_V2 = {
    "xs-320-v2": (320, 23.5, 36.1, 0.70, 0.67, 3.9, 7.81),
    "xs-416-v2": (416, 26.2, 39.3, 0.70, 1.13, 6.1, 12.38),
    "s-320-v2": (320, 29.1, 43.4, 1.18, 0.97, 4.8, 9.56),
    "s-416-v2": (416, 32.5, 47.6, 1.18, 1.65, 6.6, 15.20),
    "m-320-v2": (320, 34.4, 50.0, 3.46, 2.57, 8.2, 17.68),
    "m-416-v2": (416, 37.5, 53.4, 3.46, 4.34, 12.7, 28.39),
    "l-320-v2": (320, 36.1, 52.0, 5.80, 4.20, 11.5, 25.21),
    "l-416-v2": (416, 39.4, 55.7, 5.80, 7.10, 20.7, 42.23),
    "l-640-v2": (640, 42.6, 59.2, 5.80, 16.81, 62.5, 108.1),
}


def test_zoo_matches_published_table():
    zoo = load_zoo()
    assert set(zoo.models) == set(PUBLISHED) | set(PUBLISHED_V2)
    for name, (size, m, m50, params, gflops, ms, stem) in PUBLISHED.items():
        entry = zoo.get(stem)
        assert entry.name == name
        assert (entry.input_size, entry.map, entry.map50, entry.params_m, entry.gflops, entry.latency_ms) == (
            size, m, m50, params, gflops, ms,
        )  # fmt: skip
        assert entry.weights_url == f"https://paddledet.bj.bcebos.com/models/{stem}.pdparams"
        assert entry.log_url == f"https://paddledet.bj.bcebos.com/logs/train_{stem}.log"
        sub = "more_config/" if name.startswith(("shuffle", "mobile", "lcnet")) else ""
        assert entry.config_url.endswith(f"configs/picodet/{sub}{stem}.yml")
        assert entry.num_classes == 80 and entry.dataset == "coco"
        assert entry.arch.generation == "v1" and entry.cpu_latency_ms is None


def test_v2_zoo_matches_published_table():
    zoo = load_zoo()
    for name, (size, m, m50, params, gflops, cpu_ms, lite_ms) in PUBLISHED_V2.items():
        stem = f"picodet_{name.split('-')[0]}_{size}_coco_lcnet"
        entry = zoo.get(stem)
        assert entry.name == name and entry.arch.generation == "v2"
        assert (entry.input_size, entry.map, entry.map50, entry.params_m, entry.gflops) == (
            size,
            m,
            m50,
            params,
            gflops,
        )
        assert (entry.cpu_latency_ms, entry.latency_ms) == (cpu_ms, lite_ms)
        assert entry.weights_url == f"https://paddledet.bj.bcebos.com/models/{stem}.pdparams"
        assert entry.log_url == f"https://paddledet.bj.bcebos.com/logs/train_{stem}.log"
        assert entry.config_url.endswith(f"configs/picodet/{stem}.yml")
        assert entry.num_classes == 80 and entry.dataset == "coco"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo.toml"
    base = (Path(__file__).resolve().parents[1] / "zoo.toml").read_text()
    path.write_text(base + text)
    return path


@pytest.mark.parametrize(
    ("field", "message"),
    [("bogus = 1", "[model.x]: unknown field 'bogus'"), ("alias = []", "did you mean 'aliases'?")],
)
def test_malformed_entry_names_entry_and_field(tmp_path, field, message):
    with pytest.raises(PicodetError) as info:
        parse_zoo(_write(tmp_path, f'\n[model.x]\n{field}\narch = "picodet-s"\n'))
    assert message in str(info.value)


def test_wrong_type_and_missing_field(tmp_path):
    zoo_text = (Path(__file__).resolve().parents[1] / "zoo.toml").read_text()
    broken = zoo_text.replace("input_size = 416", 'input_size = "416"', 1)
    path = tmp_path / "zoo.toml"
    path.write_text(broken)
    with pytest.raises(PicodetError, match=r"\[model.s-416\]: field 'input_size' must be int"):
        parse_zoo(path)
    path.write_text(zoo_text.replace('sha256 = ""\n', "", 1))
    with pytest.raises(PicodetError, match=r"\[model.s-320\]: missing field 'sha256'"):
        parse_zoo(path)


def test_suggestions_for_unknown_names():
    zoo = load_zoo()
    with pytest.raises(PicodetError) as info:
        zoo.get("s416")
    assert "s-416" in info.value.hint


def test_zoo_command_shows_the_generation_and_both_latencies():
    runner = CliRunner()
    rows = json.loads(runner.invoke(app, ["zoo", "--json"]).output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["s-416"]["generation"] == "v1" and by_name["s-416"]["cpu_latency_ms"] is None
    assert by_name["s-416-v2"]["generation"] == "v2" and by_name["s-416-v2"]["cpu_latency_ms"] == 6.6
    table = runner.invoke(app, ["zoo", "s-416*"], terminal_width=200).output
    line = next(row for row in table.splitlines() if "s-416-v2" in row)
    assert "v2" in line.split("s-416-v2")[1] and "6.6" in line and "15.20" in line


def test_info_v2_computes_params_and_flops():
    runner = CliRunner()
    info = json.loads(runner.invoke(app, ["info", "picodet_s_416_coco_lcnet", "--json"]).output)
    assert info["generation"] == "v2" and info["computed_params"] == 1_186_496  # spec §1, trainable params
    assert info["computed_params_m"] == 1.18
    assert abs(info["computed_gflops"] - info["gflops"]) / info["gflops"] < 0.05
    table = runner.invoke(app, ["info", "s-416-v2"], terminal_width=200).output
    assert "1.18" in table and "6.6" in table and "15.2" in table
