"""Fixtures for the PicoDet v2 tests: the v2 golden folders in the reference layout.

`golden_v2_dirs` rebuilds `picodet_v2_s_320` from the trimmed tests/fixtures/golden_v2 (see its README). Folders
named in $PICODET_V2_GOLDEN (os.pathsep-separated, e.g. an untrimmed `picodet_v2_m_416` produced by the same
generator) are checked too: every test reads the reference's own file names and compares what a folder holds.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

EXTRA_GOLDEN_ENV = "PICODET_V2_GOLDEN"


@pytest.fixture(scope="session")
def golden_v2_dirs(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    dirs = [_unpack_golden_v2(fixtures_dir / "golden_v2", tmp_path_factory.mktemp("golden") / "picodet_v2_s_320")]
    extra = [Path(p) for p in os.environ.get(EXTRA_GOLDEN_ENV, "").split(os.pathsep) if p]
    missing = [str(p) for p in extra if not (p / "meta.json").is_file()]
    assert not missing, f"${EXTRA_GOLDEN_ENV} names folders without meta.json: {missing}"
    return dirs + extra


@pytest.fixture(scope="session")
def manifests_v2(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The upstream v2 state-dict manifests (names, shapes, parameter counts) per width, by model stem."""
    return json.loads(gzip.decompress((fixtures_dir / "state_dicts_v2.json.gz").read_bytes()))


def _unpack_golden_v2(src: Path, out: Path) -> Path:
    """Write weights*.pdparams, io*.npz and train_step*.npz as the reference has them (see build_v2.py)."""
    from golden_unpack import unpack_weights_and_inputs

    image, batch = unpack_weights_and_inputs(src, out)
    for packed in src.glob("io*.npz"):
        np.savez(out / packed.name, image=image, **np.load(packed))
    for packed in src.glob("train_step*.npz"):
        np.savez(out / packed.name, image=batch, **np.load(packed))
    (out / "meta.json").write_bytes((src / "meta.json").read_bytes())
    return out
