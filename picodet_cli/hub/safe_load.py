"""Load `.pdparams` state dicts without running code hidden in the pickle, and within the file's own size.

Official PP-PicoDet checkpoints are pickles (protocol 2 to 4; 5 is read too) of a dict name -> numpy array. A plain
`pickle.load` would call any global the file names, so the unpickler below resolves only the few numpy and stdlib
globals that array pickles need and refuses everything else with `UnsafeCheckpoint`.

It also bounds what it builds: the file is read into memory once (a declared length can never make it read or
allocate more than the file holds), every array's bytes must fit in the file, all arrays together too (a memo
reference cannot multiply them), `ndarray` can only be reconstructed empty and filled from file bytes, and dict
keys and set items must be flat values (no hashing of deeply nested tuples). Any failure is one `PicodetError`.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import reprlib
from pathlib import Path
from typing import Any, ClassVar

from ..errors import PicodetError, UnsafeCheckpoint

_TRUST_HINT = "only load checkpoints you trust; re-save it as a plain dict of numpy arrays (name -> ndarray)"
_REDOWNLOAD_HINT = "if it came from the zoo, download it again: picodet pull NAME --force"
_FLAT = (str, bytes, int, float, bool, type(None))


class _NdarrayType:
    """What `numpy.ndarray` resolves to: usable only as `_reconstruct`'s subtype; calling it is refused."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise PicodetError(
            f"{self._path}: the pickle calls numpy.ndarray(...) directly, which numpy's own pickles never do",
            _TRUST_HINT,
        )


class _BoundedFile(io.BytesIO):
    """The file's bytes; a read that asks for more than is left (a declared length or frame) is refused."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(data)
        self._path = path
        self._size = len(data)

    def read(self, size: int | None = -1) -> bytes:
        left = self._size - self.tell()
        if size is not None and size > left:
            raise PicodetError(
                f"{self._path}: the pickle declares {_human(size)} of data but {_human(left)} are left in the file",
                _REDOWNLOAD_HINT,
            )
        return super().read(size)


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class _SafeUnpickler(pickle._Unpickler):  # the Python unpickler: BUILD and SETITEM(S) can be checked
    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(_BoundedFile(data, path))
        self._path = path
        self._ndarray = _NdarrayType(path)
        self._file_size = len(data)
        self._budget = len(data)  # bytes every array and scalar together may take
        self._allowed = self._allowed_globals()

    # -- what the pickle may name ---------------------------------------------------------------------------------
    def _allowed_globals(self) -> dict[tuple[str, str], Any]:
        """(module, name) -> object for every global an array pickle may reference, old numpy spellings included."""
        import collections

        import numpy as np

        allowed: dict[tuple[str, str], Any] = {
            ("numpy", "ndarray"): self._ndarray,
            ("numpy", "dtype"): np.dtype,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("_codecs", "encode"): self._encode,
        }
        for core in ("numpy._core", "numpy.core"):
            allowed[(f"{core}.multiarray", "_reconstruct")] = self._reconstruct
            allowed[(f"{core}.multiarray", "scalar")] = self._scalar
            allowed[(f"{core}.numeric", "_frombuffer")] = self._frombuffer  # protocol 5 arrays
        return allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpoint(
                f"{self._path}: refusing to load '{module}.{name}' from the checkpoint pickle (it could run code)",
                _TRUST_HINT,
            ) from None

    # -- bounded builders -----------------------------------------------------------------------------------------
    def _refuse(self, what: str) -> PicodetError:
        return PicodetError(f"{self._path}: {what}", _REDOWNLOAD_HINT)

    def _spend(self, shape: Any, dtype: Any) -> int:
        """Check an array's declared shape and dtype against the file size and the running total; return bytes."""
        import numpy as np

        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise self._refuse(f"an array declares the shape {reprlib.repr(shape)}")
        if not isinstance(dtype, np.dtype):
            raise self._refuse(f"an array declares the dtype {reprlib.repr(dtype)}")
        nbytes = math.prod(shape) * max(dtype.itemsize, 1)
        if nbytes > self._budget:
            raise self._refuse(
                f"an array of shape {shape} {dtype} declares {_human(nbytes)} but the file holds "
                f"{_human(self._file_size)} ({_human(self._file_size - self._budget)} already used by other arrays)"
            )
        self._budget -= nbytes
        return nbytes

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        from numpy import ndarray

        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 1.26
            from numpy.core.multiarray import _reconstruct
        if subtype is not self._ndarray or not isinstance(shape, tuple) or math.prod(shape) != 0:
            raise self._refuse("an array is reconstructed in a way numpy never pickles")
        return _reconstruct(ndarray, shape, dtype)

    def _frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
        try:
            from numpy._core.numeric import _frombuffer
        except ImportError:  # numpy < 1.26
            from numpy.core.numeric import _frombuffer
        if not isinstance(buffer, bytes | bytearray) or self._spend(shape, dtype) != len(buffer):
            raise self._refuse("an array's data does not match its shape")
        return _frombuffer(buffer, dtype, shape, order)

    def _scalar(self, dtype: Any, data: Any = None) -> Any:
        try:
            from numpy._core.multiarray import scalar
        except ImportError:  # numpy < 1.26
            from numpy.core.multiarray import scalar
        self._spend((1,), dtype)
        return scalar(dtype) if data is None else scalar(dtype, data)

    def _encode(self, text: Any, encoding: Any = "utf-8") -> bytes:
        """`_codecs.encode` as protocol 2 uses it for array bytes: latin-1 text only (no expanding codecs)."""
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise UnsafeCheckpoint(
                f"{self._path}: refusing _codecs.encode({type(text).__name__}, {reprlib.repr(encoding)})", _TRUST_HINT
            )
        return text.encode("latin-1")

    # -- checked opcodes ------------------------------------------------------------------------------------------
    def _load_build(self) -> None:
        import numpy as np

        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.ndarray):
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise self._refuse("an array's pickled state is malformed")
            shape, dtype, data = state[-4], state[-3], state[-1]
            nbytes = self._spend(shape, dtype)
            size = len(data) if isinstance(data, bytes | bytearray | list) else -1
            expected = math.prod(shape) if isinstance(data, list) else nbytes
            if size != expected:
                raise self._refuse(f"an array of shape {shape} {dtype} comes with {size} values/bytes")
        pickle._Unpickler.load_build(self)

    def _check_flat(self, items: list[Any], what: str) -> None:
        for item in items:
            if not isinstance(item, _FLAT):
                raise self._refuse(f"a {what} of type {type(item).__name__} (checkpoints use names)")

    def _load_setitem(self) -> None:
        self._check_flat([self.stack[-2]], "dict key")
        pickle._Unpickler.load_setitem(self)

    def _load_setitems(self) -> None:  # after MARK, `self.stack` holds just the marked items
        self._check_flat(self.stack[::2], "dict key")
        pickle._Unpickler.load_setitems(self)

    def _load_additems(self) -> None:
        self._check_flat(self.stack, "set item")
        pickle._Unpickler.load_additems(self)

    def _load_frozenset(self) -> None:
        self._check_flat(self.stack, "set item")
        pickle._Unpickler.load_frozenset(self)

    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = _load_additems
    dispatch[pickle.FROZENSET[0]] = _load_frozenset


def safe_unpickle(path: Path) -> Any:
    """Unpickle `path` allowing only plain containers and numpy arrays (for state dicts and run checkpoints)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 2 or data[0] != 0x80 or not 2 <= data[1] <= pickle.HIGHEST_PROTOCOL:
        kind = "a zip archive (a PyTorch checkpoint?)" if data[:2] == b"PK" else "not a pickle of protocol 2 or later"
        raise PicodetError(f"{path} is not a Paddle .pdparams state dict: {kind}", _REDOWNLOAD_HINT)
    try:
        return _SafeUnpickler(data, path).load()
    except PicodetError:
        raise
    except MemoryError:
        raise PicodetError(f"{path} is not a readable checkpoint (out of memory)", _REDOWNLOAD_HINT) from None
    except RecursionError:
        raise PicodetError(f"{path} is not a readable checkpoint (nested too deeply)", _REDOWNLOAD_HINT) from None
    except EOFError:
        raise PicodetError(f"{path} is not a readable checkpoint (truncated)", _REDOWNLOAD_HINT) from None
    except Exception as exc:  # any other failure of a broken or hostile pickle is one line too
        reason = f"{type(exc).__name__}: {reprlib.repr(str(exc))[1:-1]}"
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
                f"{path}: entry {reprlib.repr(key)} is a {kind}; a state dict maps names to numeric arrays", _TRUST_HINT
            )
        state[key] = value
    return state
