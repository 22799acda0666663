"""`picodet run`'s summary table: one readable cell per stage."""

from __future__ import annotations

from picodet_cli.cli.run import _short


def test_summary_cells_count_lists_and_name_paths():
    assert _short(["paddlelite x86 INT8 kernels give wrong scores ..."]) == "1"
    assert _short({"onnx_int8": "/runs/q/onnx_int8/model.onnx", "paddle_int8": "/runs/q/p/model.pdmodel"}) == (
        "onnx_int8, paddle_int8"
    )
    assert _short({"onnxruntime": {"map50": 0.93912}}) == "onnxruntime map50 0.9391"
    assert _short(0.5) == "0.5000" and _short("ok") == "ok"
