"""Fixtures for the network tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def manifests(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """Every v1 state-dict manifest (upstream names, shapes and parameter counts), by model stem."""
    found = json.loads(gzip.decompress((fixtures_dir / "state_dicts_v1.json.gz").read_bytes()))
    assert found, "no state-dict manifests found"
    return found
