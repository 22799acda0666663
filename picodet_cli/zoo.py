"""The model zoo: zoo.toml parsed into validated dataclasses, with name lookup and suggestions."""

from __future__ import annotations

import difflib
import fnmatch
import sys
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PicodetError
from .models.backbones import BACKBONES, unknown_backbone_hint
from .models.generations import GENERATIONS
from .models.spec import ArchSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class ZooEntry:
    """One released checkpoint with its published numbers."""

    name: str
    aliases: tuple[str, ...]
    arch: ArchSpec
    input_size: int
    dataset: str
    num_classes: int
    map: float
    map50: float
    params_m: float
    gflops: float
    latency_ms: float
    weights_url: str
    log_url: str
    config_url: str
    sha256: str
    cpu_latency_ms: float | None = None  # published x86 CPU latency (v2 zoo: i7-10750H, Paddle Inference + MKLDNN)

    @property
    def file_name(self) -> str:
        return self.weights_url.rsplit("/", 1)[-1]


_MODEL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "aliases": list,
    "arch": str,
    "input_size": int,
    "dataset": str,
    "num_classes": int,
    "map": (int, float),
    "map50": (int, float),
    "params_m": (int, float),
    "gflops": (int, float),
    "latency_ms": (int, float),
    "weights_url": str,
    "log_url": str,
    "config_url": str,
    "sha256": str,
    "cpu_latency_ms": (int, float),
}
_MODEL_OPTIONAL = ("cpu_latency_ms",)
_ARCH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "generation": str,
    "backbone": str,
    "backbone_args": dict,
    "neck_channels": int,
    "head_channels": int,
    "head_convs": int,
    "share_cls_reg": bool,
    "reg_max": int,
    "strides": list,
    "kernel_size": int,
}
_ARCH_REQUIRED = ("backbone", "neck_channels", "head_channels", "head_convs", "share_cls_reg")


def default_zoo_path() -> Path:
    """zoo.toml inside an installed wheel, else the one at the top of the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "zoo.toml", here.parent / "zoo.toml"):
        if candidate.is_file():
            return candidate
    raise PicodetError("zoo.toml not found", "reinstall picodet: pip install -e .")


def _check_type(where: str, key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (int, float)))
    if not ok:
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise PicodetError(f"{where}: field '{key}' must be {names}, got {value!r}", "fix zoo.toml")


def _check_keys(where: str, table: dict[str, Any], allowed: dict[str, Any], required: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
            raise PicodetError(f"{where}: unknown field '{key}'", hint)
    for key in required:
        if key not in table:
            raise PicodetError(f"{where}: missing field '{key}'", "fix zoo.toml")
    for key, value in table.items():
        _check_type(where, key, value, allowed[key])


def _parse_arch(path: Path, name: str, table: dict[str, Any]) -> ArchSpec:
    where = f"{path.name} [arch.{name}]"
    _check_keys(where, table, _ARCH_FIELDS, _ARCH_REQUIRED)
    if table["backbone"] not in BACKBONES:
        raise PicodetError(f"{where}: unknown backbone '{table['backbone']}'", unknown_backbone_hint(table["backbone"]))
    if table.get("generation", "v1") not in GENERATIONS:
        raise PicodetError(f"{where}: unknown generation '{table['generation']}'", f"one of: {', '.join(GENERATIONS)}")
    values = dict(table)
    if "strides" in values:
        values["strides"] = tuple(values["strides"])
    return ArchSpec(name=name, **values)


def _parse_model(path: Path, name: str, table: dict[str, Any], archs: dict[str, ArchSpec]) -> ZooEntry:
    where = f"{path.name} [model.{name}]"
    _check_keys(where, table, _MODEL_FIELDS, tuple(k for k in _MODEL_FIELDS if k not in _MODEL_OPTIONAL))
    if table["arch"] not in archs:
        raise PicodetError(
            f"{where}: field 'arch' names unknown architecture '{table['arch']}'", f"one of: {', '.join(archs)}"
        )
    sha = table["sha256"]
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise PicodetError(f"{where}: field 'sha256' must be 64 lowercase hex digits or empty", "fix zoo.toml")
    if not all(isinstance(a, str) for a in table["aliases"]):
        raise PicodetError(f"{where}: field 'aliases' must be a list of strings", "fix zoo.toml")
    for key in ("weights_url", "log_url", "config_url"):
        if not table[key].startswith(("http://", "https://")):
            raise PicodetError(f"{where}: field '{key}' must be an http(s) URL", "fix zoo.toml")
    values = {f.name: table.get(f.name) for f in fields(ZooEntry) if f.name not in ("name", "arch", "aliases")}
    return ZooEntry(name=name, aliases=tuple(table["aliases"]), arch=archs[table["arch"]], **values)


class Zoo:
    """Lookup over zoo entries and architectures, by name or alias."""

    def __init__(self, models: dict[str, ZooEntry], archs: dict[str, ArchSpec]) -> None:
        self.models = models
        self.archs = archs
        self._by_name = {n.lower(): e for e in models.values() for n in (e.name, *e.aliases)}

    def __iter__(self):
        return iter(self.models.values())

    def find(self, name: str) -> ZooEntry | None:
        return self._by_name.get(name.lower())

    def get(self, name: str) -> ZooEntry:
        entry = self.find(name)
        if entry is None:
            raise PicodetError(f"unknown model '{name}'", self.suggest(name))
        return entry

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name.lower(), list(self._by_name) + list(self.archs), n=3, cutoff=0.5)
        names = list(dict.fromkeys(self._by_name[c].name if c in self._by_name else c for c in close))
        if names:
            return "did you mean " + " or ".join(f"'{n}'" for n in names) + "?"
        return "see `picodet zoo` for the model names"

    def filter(self, pattern: str | None) -> list[ZooEntry]:
        if not pattern:
            return list(self)
        pat = pattern.lower()
        glob = any(ch in pat for ch in "*?[")
        return [
            e
            for e in self
            if any((fnmatch.fnmatch(n.lower(), pat) if glob else pat in n.lower()) for n in (e.name, *e.aliases))
        ]


def parse_zoo(path: Path) -> Zoo:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PicodetError(f"{path}: invalid TOML: {exc}", "fix zoo.toml") from None
    archs = {name: _parse_arch(path, name, table) for name, table in data.get("arch", {}).items()}
    models = {name: _parse_model(path, name, table, archs) for name, table in data.get("model", {}).items()}
    if not models:
        raise PicodetError(f"{path}: no [model.*] tables", "fix zoo.toml")
    return Zoo(models, archs)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> Zoo:
    return parse_zoo(Path(path))


def load_zoo(path: str | Path | None = None) -> Zoo:
    """Parse and validate zoo.toml (the bundled one by default)."""
    p = Path(path) if path else default_zoo_path()
    return _load_cached(str(p), p.stat().st_mtime)
