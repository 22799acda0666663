"""`picodet predict` end to end: real images in, annotated images and JSON out, bad files skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from picodet_cli.cli.main import app

runner = CliRunner()
ASSETS = Path(__file__).resolve().parents[2] / "picodet_cli" / "assets"


def _weights(golden_dirs: list[Path]) -> Path:
    return golden_dirs[0] / "weights_perturbed.pdparams"


def test_predict_writes_images_and_json(tmp_path: Path, golden_dirs: list[Path], images_dir: Path):
    photo = tmp_path / "in" / "rocket.jpg"
    photo.parent.mkdir()
    shutil.copy(images_dir / "rocket.jpg", photo)
    (tmp_path / "in" / "notes.png").write_bytes(b"this is not an image")
    out = tmp_path / "out"
    args = ["predict", "picodet-s", str(photo.parent), "--weights", str(_weights(golden_dirs))]
    result = runner.invoke(app, [*args, "--score-threshold", "0.3", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    [record] = payload["predictions"]
    assert record["image"].endswith("rocket.jpg") and (record["width"], record["height"]) == (640, 427)
    assert record["detections"], "perturbed golden weights give confident boxes"
    det = record["detections"][0]
    assert set(det) == {"class_id", "name", "score", "box"} and det["score"] >= 0.3
    assert 0 <= det["box"][0] <= det["box"][2] <= 640 and 0 <= det["box"][1] <= det["box"][3] <= 427
    assert payload["skipped"][0]["image"].endswith("notes.png")
    drawn = cv2.imread(str(out / "rocket.jpg"))
    assert drawn.shape == (427, 640, 3)
    assert np.abs(drawn.astype(int) - cv2.imread(str(photo)).astype(int)).max() > 100, "boxes were drawn"
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["predictions"][0]["detections"] == record["detections"]


def test_predict_matches_model_detect(tmp_path: Path, golden_dirs: list[Path]):
    """The CLI's boxes are the model's own detect() output above the threshold, in original pixels."""
    import paddle

    from picodet_cli.data.transforms import preprocess, read_image
    from picodet_cli.models.pretrained import create_model

    image_path = ASSETS / "astronaut.jpg"
    loaded = create_model("picodet-s", _weights(golden_dirs))
    loaded.model.eval()
    tensor, im_shape, scale = preprocess(read_image(image_path), 320)
    bbox, _ = loaded.model.detect(paddle.to_tensor(tensor), im_shape, scale)
    expected = sorted(float(r[1]) for r in bbox if r[1] >= 0.5)
    args = ["predict", "picodet-s", str(image_path), "--weights", str(_weights(golden_dirs)), "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    got = json.loads(result.stdout[result.stdout.index("{") :])["predictions"][0]["detections"]
    np.testing.assert_allclose(sorted(d["score"] for d in got), expected, rtol=1e-6)


def test_predict_only_bad_files_fails(tmp_path: Path, golden_dirs: list[Path]):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    args = ["predict", "picodet-s", str(bad), "--weights", str(_weights(golden_dirs)), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "broken.jpg" in result.output and "Traceback" not in result.output
    assert "error: no image could be read (broken.jpg)" in result.output
    assert not (tmp_path / "o" / "predictions.json").exists()


def test_weights_bring_their_model_json(tmp_path: Path, golden_dirs: list[Path], images_dir: Path):
    """--weights RUN/weights/best.pdparams uses the model.json beside it, as giving the file as MODEL does."""
    from dataclasses import asdict

    from picodet_cli.models.registry import build_model
    from picodet_cli.predict.predictor import Detector

    run = tmp_path / "run" / "weights"
    run.mkdir(parents=True)
    shutil.copy(_weights(golden_dirs), run / "best.pdparams")
    names = [f"thing{i}" for i in range(80)]
    arch = build_model("picodet-s").arch
    (run / "model.json").write_text(json.dumps({"arch": asdict(arch), "input_size": 256, "class_names": names}))
    for detector in (Detector("picodet-s", run / "best.pdparams"), Detector(str(run / "best.pdparams"))):
        assert detector.input_size == 256 and detector.class_names == names
    args = ["predict", "picodet-s", str(images_dir / "rocket.jpg"), "--weights", str(run / "best.pdparams")]
    result = runner.invoke(app, [*args, "--score-threshold", "0.3", "--json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout[result.stdout.index("{") :])["predictions"][0]["detections"]
    assert found and all(d["name"].startswith("thing") for d in found)


def test_missing_weights_file_as_model_says_so(tmp_path: Path, images_dir: Path):
    missing = tmp_path / "runs" / "best.pdparams"
    result = runner.invoke(app, ["predict", str(missing), str(images_dir / "rocket.jpg")])
    assert result.exit_code == 1 and f"{missing}: no such file" in result.output
    assert "unknown model" not in result.output


def test_weights_file_as_model_without_model_json_says_what_to_give(tmp_path: Path, images_dir: Path):
    bare = tmp_path / "upstream.pdparams"
    bare.write_bytes(b"not read")
    result = runner.invoke(app, ["predict", str(bare), str(images_dir / "rocket.jpg")])
    assert result.exit_code == 1 and f"{bare}: no model.json beside it" in result.output
    assert "--weights" in result.output and "unknown model" not in result.output


def test_predict_missing_source_is_one_line(tmp_path: Path):
    result = runner.invoke(app, ["predict", "s-320", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_predict_offline_uncached_zoo_model(tmp_path: Path, monkeypatch, images_dir: Path):
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    image = images_dir / "rocket.jpg"
    result = runner.invoke(app, ["predict", "s-320", str(image), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "picodet pull" in result.output and "Traceback" not in result.output
