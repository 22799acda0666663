"""Load `.pdparams` state dicts without running code hidden in the pickle.

Official PP-PicoDet checkpoints are pickles (protocol 2 to 4; 5 is read too) of a dict name -> numpy array. A plain
`pickle.load` would call any global the file names, so the unpickler below resolves only the few
numpy and stdlib globals that array pickles need and refuses everything else with `UnsafeCheckpoint`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from ..errors import PicodetError, UnsafeCheckpoint

_TRUST_HINT = "only load checkpoints you trust; re-save it as a plain dict of numpy arrays (name -> ndarray)"
_REDOWNLOAD_HINT = "if it came from the zoo, download it again: picodet pull NAME --force"


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """(module, name) -> object for every global an array pickle may reference, old numpy spellings included."""
    import _codecs
    import collections

    import numpy as np

    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 1.26
        from numpy.core import multiarray, numeric

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _codecs.encode,
    }
    for core in ("numpy._core", "numpy.core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5 arrays
    return allowed


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self._path = path
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpoint(
                f"{self._path}: refusing to load '{module}.{name}' from the checkpoint pickle (it could run code)",
                _TRUST_HINT,
            ) from None


def safe_unpickle(path: Path) -> Any:
    """Unpickle `path` allowing only plain containers and numpy arrays (for state dicts and run checkpoints)."""
    with open(path, "rb") as handle:
        head = handle.read(2)
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
            kind = "a zip archive (a PyTorch checkpoint?)" if head == b"PK" else "not a pickle of protocol 2 or later"
            raise PicodetError(f"{path} is not a Paddle .pdparams state dict: {kind}", _REDOWNLOAD_HINT)
        handle.seek(0)
        try:
            return _SafeUnpickler(handle, path).load()
        except PicodetError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            reason = "truncated" if isinstance(exc, EOFError) else f"{type(exc).__name__}: {exc}"
            raise PicodetError(f"{path} is not a readable checkpoint ({reason})", _REDOWNLOAD_HINT) from None


def _is_metadata(key: Any) -> bool:
    """Old Paddle versions store a `StructuredToParameterName@@` name map next to the arrays."""
    return isinstance(key, str) and key.endswith("@@")


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a `.pdparams` file as {parameter name: np.ndarray}, refusing pickles that could run code."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise PicodetError(f"checkpoint not found: {path}", "check the path, or give a zoo name (see `picodet zoo`)")
    obj = safe_unpickle(path)
    if not isinstance(obj, dict):
        raise PicodetError(
            f"{path} holds a {type(obj).__name__}, not a state dict (name -> array)", "save model.state_dict()"
        )
    state: dict[str, Any] = {}
    for key, value in obj.items():
        if _is_metadata(key):
            continue
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(key, str) or not isinstance(value, np.ndarray) or value.dtype.hasobject:
            kind = f"{type(value).__name__} of {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
            raise PicodetError(
                f"{path}: entry {key!r} is a {kind}; a state dict maps names to numeric arrays", _TRUST_HINT
            )
        state[key] = value
    return state
