"""The safe `.pdparams` loader: real checkpoints load, code-running pickles and broken files are refused."""

from __future__ import annotations

import collections
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.errors import PicodetError, UnsafeCheckpoint
from picodet_cli.hub.safe_load import load_state_dict


def test_golden_weights_load_with_reference_shapes(golden_dirs: list[Path], fixtures_dir: Path):
    import gzip

    state = load_state_dict(golden_dirs[0] / "weights.pdparams")
    reference = json.loads(gzip.decompress((fixtures_dir / "state_dicts_v1.json.gz").read_bytes()))["picodet_s_320"]
    assert len(state) == reference["num_entries"] == 580
    assert {name: list(array.shape) for name, array in state.items()} == {
        name: shape for name, shape, _ in reference["state_dict"]
    }
    assert all(str(state[name].dtype) == dtype for name, _, dtype in reference["state_dict"])


class _Shell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Opener:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_Shell, _Opener])
def test_code_running_pickle_is_refused_and_never_runs(tmp_path: Path, payload: type):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"w": np.zeros(2, np.float32), "x": payload(marker)}, protocol=4))
    with pytest.raises(UnsafeCheckpoint) as info:
        load_state_dict(path)
    assert "refusing to load" in info.value.message and ("system" in info.value.message or "open" in info.value.message)
    assert "trust" in info.value.hint
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_and_ordered_dict_and_scalars_load(tmp_path: Path, protocol: int):
    state = collections.OrderedDict(
        [("a.weight", np.arange(6, dtype=np.float32).reshape(2, 3)), ("a.step", np.int64(3))]
    )
    path = tmp_path / "ok.pdparams"
    path.write_bytes(pickle.dumps(state, protocol=protocol))
    loaded = load_state_dict(path)
    assert list(loaded) == ["a.weight", "a.step"]
    np.testing.assert_array_equal(loaded["a.weight"], state["a.weight"])
    assert isinstance(loaded["a.step"], np.ndarray) and loaded["a.step"] == 3


def test_old_paddle_name_map_is_dropped(tmp_path: Path):
    path = tmp_path / "old.pdparams"
    state = {"conv.w": np.ones(2, np.float32), "StructuredToParameterName@@": {"conv.w": "conv2d_0.w_0"}}
    path.write_bytes(pickle.dumps(state, protocol=2))
    assert list(load_state_dict(path)) == ["conv.w"]


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ([np.ones(2)], "not a state dict"),
        ({"w": "text"}, "entry 'w' is a str"),
        ({"w": np.array([None, 1], dtype=object)}, "entry 'w' is a ndarray of object"),
        ({3: np.ones(2)}, "entry 3"),
    ],
)
def test_non_state_dicts_are_refused(tmp_path: Path, obj: object, match: str):
    path = tmp_path / "odd.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(PicodetError, match=match):
        load_state_dict(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pickle.dumps({"w": np.ones(1000, np.float32)}, protocol=4)[:500], "truncated"),
        (b"PK\x03\x04 zip", "zip archive"),
        (b"hello world", "not a pickle"),
        (b"", "not a pickle"),
    ],
)
def test_truncated_and_foreign_files_are_refused(tmp_path: Path, data: bytes, match: str):
    path = tmp_path / "broken.pdparams"
    path.write_bytes(data)
    with pytest.raises(PicodetError, match=match) as info:
        load_state_dict(path)
    assert not isinstance(info.value, UnsafeCheckpoint)


def test_missing_file(tmp_path: Path):
    with pytest.raises(PicodetError, match="checkpoint not found"):
        load_state_dict(tmp_path / "nope.pdparams")
