"""`picodet recipe new|check|show` on a throw-away app: exit codes, one-line errors, nothing written on error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from picodet_cli.cli import recipe as recipe_cli
from picodet_cli.cli.main import PicodetGroup
from picodet_cli.recipe.loader import default_recipes_dir, load_recipe

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(cls=PicodetGroup, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:
        """A root group, as `picodet` has."""

    recipe_cli.register(app)
    return app


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_one_line_error(output: str, *parts: str) -> None:
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(part in errors[0] for part in parts), output
    assert "Traceback" not in output


def test_new_writes_a_loadable_starter(app: typer.Typer, tmp_path: Path):
    result = runner.invoke(app, ["recipe", "new"])
    assert result.exit_code == 0, result.output
    assert "wrote picodet.toml" in result.output
    recipe = load_recipe(tmp_path / "picodet.toml")
    assert recipe.model.arch == "s-416" and recipe.weights.init == "s-416" and recipe.data.format == "coco"


def test_new_voc_with_model_and_path(app: typer.Typer, tmp_path: Path):
    result = runner.invoke(app, ["recipe", "new", "cfg/mine.toml", "--model", "m-320", "--data", "voc"])
    assert result.exit_code == 0, result.output
    recipe = load_recipe(tmp_path / "cfg/mine.toml")
    assert (recipe.model.arch, recipe.data.format, recipe.model.input_size) == ("m-320", "voc", 320)


def test_new_refuses_to_overwrite_without_force(app: typer.Typer, tmp_path: Path):
    target = tmp_path / "picodet.toml"
    target.write_text("# mine\n")
    result = runner.invoke(app, ["recipe", "new"])
    assert result.exit_code == 1
    assert_one_line_error(result.output, "picodet.toml: already exists")
    assert "--force" in result.output and target.read_text() == "# mine\n"
    assert runner.invoke(app, ["recipe", "new", "--force"]).exit_code == 0
    assert target.read_text().startswith("# picodet recipe")


def test_new_unknown_model_writes_nothing(app: typer.Typer, tmp_path: Path):
    result = runner.invoke(app, ["recipe", "new", "x.toml", "--model", "s-415"])
    assert result.exit_code == 1
    assert_one_line_error(result.output, "unknown model or architecture 's-415'")
    assert "did you mean 's-416'" in result.output and list(tmp_path.iterdir()) == []


def test_new_bad_data_format_is_a_usage_error(app: typer.Typer, tmp_path: Path):
    result = runner.invoke(app, ["recipe", "new", "--data", "kitti"])
    assert result.exit_code == 2 and list(tmp_path.iterdir()) == []


def test_check_ok_prints_a_summary(app: typer.Typer):
    result = runner.invoke(app, ["recipe", "check", str(default_recipes_dir() / "demo.toml"), "--no-data"])
    assert result.exit_code == 0, result.output
    assert "ok " in result.output and "model: picodet-s, 256 px, 4 classes" in result.output
    assert "stages: train, eval, quantize, export, bench" in result.output


def test_check_unknown_key_is_one_line(app: typer.Typer, tmp_path: Path):
    (tmp_path / "r.toml").write_text('[model]\narch = "s-416"\n[train]\nbatch_sze = 4\n')
    result = runner.invoke(app, ["recipe", "check", "r.toml"])
    assert result.exit_code == 1
    assert_one_line_error(result.output, "r.toml: train.batch_sze: unknown key")
    assert "hint: did you mean 'batch_size'?" in result.output


def test_check_bad_set_and_missing_data(app: typer.Typer, tmp_path: Path):
    (tmp_path / "r.toml").write_text('[model]\narch = "s-416"\n[train]\n')
    bad_set = runner.invoke(app, ["recipe", "check", "r.toml", "--set", "train.epochs=ten"])
    assert bad_set.exit_code == 1
    assert_one_line_error(bad_set.output, "--set: train.epochs: expected an integer, got 'ten'")
    no_data = runner.invoke(app, ["recipe", "check", "r.toml", "--set", "data.root=nowhere"])
    assert no_data.exit_code == 1
    assert_one_line_error(no_data.output, "r.toml: data.root: folder not found")
    assert runner.invoke(app, ["recipe", "check", "r.toml", "--no-data"]).exit_code == 0


def test_check_missing_file(app: typer.Typer):
    result = runner.invoke(app, ["recipe", "check", "nope.toml"])
    assert result.exit_code == 1
    assert_one_line_error(result.output, "nope.toml: file not found")


def test_show_json_is_resolved(app: typer.Typer, tmp_path: Path):
    path = default_recipes_dir() / "s-416-coco.toml"
    result = runner.invoke(app, ["recipe", "show", str(path), "--json", "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["path"] == str(path) and shown["stages"] == ["train", "eval"]
    assert shown["train"]["epochs"] == 3 and shown["train"]["batch_size"] == 80 and shown["train"]["devices"] == 4
    assert shown["output"]["dir"] == str(tmp_path / "runs/s-416-coco")


def test_show_toml_reloads_to_the_same_values(app: typer.Typer, tmp_path: Path):
    path = default_recipes_dir() / "finetune-voc.toml"
    result = runner.invoke(app, ["recipe", "show", str(path), "--set", "train.lr=0.01"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# ") and "[train]\n" in result.stdout
    (tmp_path / "resolved.toml").write_text(result.stdout)
    assert load_recipe(tmp_path / "resolved.toml").to_dict() == load_recipe(path, ["train.lr=0.01"]).to_dict()


def test_show_error_prints_no_recipe(app: typer.Typer, tmp_path: Path):
    (tmp_path / "r.toml").write_text('[model]\narch = "s-416"\n[data]\nformat = "kitti"\n')
    result = runner.invoke(app, ["recipe", "show", "r.toml", "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert_one_line_error(result.output, "r.toml: data.format: 'kitti' is not allowed")
    assert "hint: one of: coco, voc" in result.output


def test_check_refuses_a_bench_device_bench_cannot_use(app: typer.Typer, tmp_path: Path):
    result = runner.invoke(
        app, ["recipe", "check", str(default_recipes_dir() / "demo.toml"), "--no-data", "--set", 'bench.device="gpu"']
    )
    assert result.exit_code == 1 and "bench.device: 'gpu' is not allowed" in result.output
    assert "cpu, arm" in result.output
