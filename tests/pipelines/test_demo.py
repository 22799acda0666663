"""`picodet demo --quick`: the README's main job, end to end and offline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from picodet_cli.cli.main import app


def test_quick_demo_runs_offline(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("train", "done"), ("eval", "done"), ("export", "done"),
    ]  # fmt: skip
    assert summary["stages"][2]["summary"]["formats"] == {"onnx": "ok"}
    predictions = json.loads((Path(summary["predictions"]) / "predictions.json").read_text())
    assert len(predictions) == 3 and all("detections" in p for p in predictions)
    assert Path(summary["weights"]).is_file()
