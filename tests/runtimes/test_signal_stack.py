"""OpenVINO work leaves the thread's alternate signal stack as it was (see runtimes/signal_stack.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = """
import ctypes, sys
import numpy as np
from picodet_cli.runtimes.openvino import OpenVinoRuntime
from picodet_cli.runtimes.signal_stack import _Stack

def flags():
    state = _Stack()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(state))
    return state.ss_flags

before = flags()
runtime = OpenVinoRuntime()
runtime.load(sys.argv[1], threads=2)
runtime.run({"image": np.zeros((1, 16, 8, 8), np.float32)})
print(before, flags())
"""


@pytest.fixture(scope="module")
def conv_onnx(tmp_path_factory) -> Path:
    """image [1,16,8,8] -> 3x3 conv: running a conv is what makes the CPU plugin set up an alternate stack."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((16, 16, 3, 3), np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weight"], ["out"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 16, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 16, 8, 8])],
        initializer=[weight],
    )
    path = tmp_path_factory.mktemp("conv") / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(path))
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack is read through glibc")
def test_openvino_leaves_no_alternate_signal_stack(conv_onnx: Path):
    pytest.importorskip("openvino")
    out = subprocess.run([sys.executable, "-c", PROBE, str(conv_onnx)], capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    assert before == after == "2"  # SS_DISABLE: no alternate stack before, none after the CPU plugin ran a conv
