"""Architecture description of a PicoDet model: plain data, no Paddle import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArchSpec:
    """What the model registry needs to build a PicoDet network of the given generation."""

    name: str
    backbone: str
    generation: str = "v1"
    backbone_args: dict[str, Any] = field(default_factory=dict)
    neck_channels: int = 96
    head_channels: int = 96
    head_convs: int = 2
    share_cls_reg: bool = True
    reg_max: int = 7
    strides: tuple[int, ...] = (8, 16, 32, 64)
    kernel_size: int = 5
    description: str = ""
