"""Backbone registry: name -> "module:Class" (plain data; a backbone module is imported only when built).

Each backbone returns its stride 8/16/32 features and lists their channels in `out_channels`.
Adding a backbone = one entry here + its module.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from ...errors import PicodetError

BACKBONES: dict[str, str] = {
    "esnet": "picodet_cli.models.backbones.esnet:ESNet",
    "lcnet": "picodet_cli.models.backbones.lcnet:LCNet",
    "mobilenetv3": "picodet_cli.models.backbones.mobilenetv3:MobileNetV3",
    "shufflenetv2": "picodet_cli.models.backbones.shufflenetv2:ShuffleNetV2",
}


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def unknown_backbone_hint(name: str) -> str:
    close = difflib.get_close_matches(name, BACKBONES, n=1)
    return f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(list_backbones())}"


def get_backbone(name: str) -> type:
    """The backbone class registered as `name`; unknown names get a did-you-mean hint."""
    if name not in BACKBONES:
        raise PicodetError(f"unknown backbone '{name}'", unknown_backbone_hint(name))
    module, cls = BACKBONES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_backbone(name: str, **backbone_args: Any) -> Any:
    """Instantiate a backbone; argument names are checked so a typo in zoo.toml reads as a clear error."""
    cls = get_backbone(name)
    try:
        inspect.signature(cls.__init__).bind(None, **backbone_args)
    except TypeError as exc:
        raise PicodetError(f"bad backbone_args for '{name}': {exc}", "fix the architecture's backbone_args") from None
    return cls(**backbone_args)
