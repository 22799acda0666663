"""How failed INT8 checks decide a run's outcome."""

from __future__ import annotations

from pathlib import Path

from picodet_cli.slim.pipeline import broken, drop_broken_lite_x86


def test_a_failing_lite_x86_nb_is_deleted_and_reported_not_counted(tmp_path: Path):
    nb = tmp_path / "model_x86.nb"
    nb.write_bytes(b"nb")
    files = {"onnx_int8": tmp_path / "model.onnx", "lite_int8_x86": nb}
    checks = {
        "onnx_int8/onnxruntime": {"ok": True, "failures": []},
        "lite_int8_x86/lite": {"ok": False, "failures": ["image input: scores off by 0.999 > 0.5"]},
    }
    warnings = drop_broken_lite_x86(files, checks)
    assert not nb.exists() and "lite_int8_x86" not in files
    assert len(warnings) == 1 and "scores off" in warnings[0] and "arm" in warnings[0]
    assert broken({"verification": checks}) == []


def test_any_other_failing_check_is_broken():
    checks = {"paddle_int8/paddle": {"ok": False, "failures": ["image input: outputs are not finite"]}}
    assert drop_broken_lite_x86({}, checks) == []
    assert broken({"verification": checks}) == ["paddle_int8/paddle: image input: outputs are not finite"]
