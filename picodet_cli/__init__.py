"""picodet: a command-line model-zoo manager for PP-PicoDet detectors.

The public Python API is imported lazily so that `import picodet_cli` (and `picodet --help`) stays fast:
`build_model`, `load_checkpoint`, `create_model`, `Detector`.
"""

from __future__ import annotations

import warnings
from typing import Any

__version__ = "0.1.0"

# Paddle's Python warnings that say nothing to picodet's users: `import paddle` advises installing ccache (a
# compiler cache; picodet's kernels compile once per machine) and BatchNorm notes its statistics tracking.
QUIET_WARNINGS = ("No ccache found", "When training, we now always track global mean")
for _message in QUIET_WARNINGS:
    warnings.filterwarnings("ignore", message=_message, category=UserWarning)
del _message

_API = {
    "build_model": ("picodet_cli.models.registry", "build_model"),
    "create_model": ("picodet_cli.models.pretrained", "create_model"),
    "load_checkpoint": ("picodet_cli.hub.safe_load", "load_state_dict"),
    "Detector": ("picodet_cli.predict.predictor", "Detector"),
    "load_zoo": ("picodet_cli.zoo", "load_zoo"),
    "bench": ("picodet_cli.bench.api", "bench"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'picodet_cli' has no attribute {name!r}")
    import importlib

    module_name, attr = _API[name]
    return getattr(importlib.import_module(module_name), attr)
