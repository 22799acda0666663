"""Backbone registry: explicit names -> classes; each backbone returns stride 8/16/32 features."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from paddle import nn

from ...errors import PicodetError

_BACKBONES: dict[str, type[nn.Layer]] = {}


def register_backbone(name: str) -> Callable[[type[nn.Layer]], type[nn.Layer]]:
    """Class decorator: make a backbone buildable as `build_backbone(name, **backbone_args)`."""

    def wrap(cls: type[nn.Layer]) -> type[nn.Layer]:
        if name in _BACKBONES:
            raise ValueError(f"backbone '{name}' registered twice")
        _BACKBONES[name] = cls
        return cls

    return wrap


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)


def get_backbone(name: str) -> type[nn.Layer]:
    """The backbone class registered as `name`; unknown names get a did-you-mean hint."""
    if name not in _BACKBONES:
        close = difflib.get_close_matches(name, _BACKBONES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(list_backbones())}"
        raise PicodetError(f"unknown backbone '{name}'", hint)
    return _BACKBONES[name]


def build_backbone(name: str, **backbone_args: Any) -> nn.Layer:
    """Instantiate a backbone; argument names are checked so a typo in zoo.toml reads as a clear error."""
    cls = get_backbone(name)
    try:
        inspect.signature(cls.__init__).bind(None, **backbone_args)
    except TypeError as exc:
        raise PicodetError(f"bad backbone_args for '{name}': {exc}", "fix the architecture's backbone_args") from None
    return cls(**backbone_args)


# Importing the modules registers them (they use register_backbone above).
from . import esnet, lcnet, mobilenetv3, shufflenetv2  # noqa: E402, F401
