"""The legacy program of the same network and weights is saved once per process (quantize, then Lite export)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

SIZE = 64


@pytest.mark.slow
def test_same_job_and_weights_are_saved_once(legacy, tmp_path: Path):
    import paddle

    from picodet_cli.export.lite import LEGACY_FILES, save_legacy_program
    from picodet_cli.models.pretrained import state_digest
    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=3, input_size=SIZE)
    weights = tmp_path / "w.pdparams"
    paddle.save(model.state_dict(), str(weights))
    job = {"arch": asdict(model.arch), "num_classes": 3, "input_size": SIZE, "postprocess": "none"}

    def save(name: str, digest: str, **changes) -> bool:
        """Whether the worker ran (it writes its job into the work folder)."""
        work = tmp_path / f"work-{name}"
        work.mkdir()
        save_legacy_program(job | changes, weights, tmp_path / name, work, digest)
        assert all((tmp_path / name / f).stat().st_size > 0 for f in LEGACY_FILES)
        return (work / "job.json").is_file()

    digest = state_digest(model)
    assert save("first", digest)
    assert not save("again", digest)
    assert all((tmp_path / "first" / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in LEGACY_FILES)
    assert save("decode", digest, postprocess="decode")  # another job
    assert save("other-weights", "0" * 64)  # another digest
    assert save("none", "")  # without a digest: always saved
