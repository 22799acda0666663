"""Fixtures for the network tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def manifests(shared_dir: Path) -> dict[str, dict[str, Any]]:
    """Every `state_dicts/<model>.json`, by file stem."""
    paths = sorted((shared_dir / "reference" / "state_dicts").glob("*.json"))
    assert paths, "no state-dict manifests found"
    return {p.stem: json.loads(p.read_text()) for p in paths}
