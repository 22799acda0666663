"""Detector generations: one registry entry each, read by build, load, train, export and `picodet zoo`.

A generation names its network class (backbone + neck + head with `head_outputs`, `forward` in the deploy
layout, `detect` and `compute_losses`), the checkpoint spellings it accepts, the entries its checkpoints may
carry unused, and how `detect` post-processes. Adding a generation = one entry here + its modules.
Plain data: nothing heavy is imported until a network is built.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PicodetError


@dataclass(frozen=True)
class Generation:
    """One PicoDet generation."""

    name: str
    title: str
    network: str  # "module:Class" of the network, built as Class(arch, num_classes=..., input_size=...)
    assigner: str  # what assigns training targets (shown by `picodet info`)
    unused_keys: str  # regex of checkpoint entries the forward pass never reads (they may be absent)
    deploy_postprocess: str  # "module:function" decoding the deploy layout like `detect` (runtimes, verify)
    key_aliases: tuple[tuple[str, str], ...] = ()  # (regex, replacement): other spellings of checkpoint keys

    def network_class(self) -> type:
        return _resolve(self.network)

    def postprocess_deploy(self) -> Callable[..., tuple[Any, Any]]:
        """postprocess_deploy(scores, box_logits, input_hw, strides, reg_max, scale_factor, **nms_options)."""
        return _resolve(self.deploy_postprocess)

    def canonical_keys(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """`state_dict` with aliased keys renamed to this generation's spelling (the canonical one wins)."""
        if not self.key_aliases:
            return state_dict
        out = dict(state_dict)
        for key in state_dict:
            for pattern, replacement in self.key_aliases:
                canonical = re.sub(pattern, replacement, key)
                if canonical != key:
                    value = out.pop(key)
                    out.setdefault(canonical, value)
        return out


def _resolve(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


_UNUSED = r"head\.p\d+_feat\.scale_reg|head\.distribution_project\.project"

GENERATIONS: dict[str, Generation] = {
    g.name: g
    for g in (
        Generation(
            name="v1",
            title="PicoDet v1 (2021): ESNet/ShuffleNetV2/MobileNetV3/LCNet + CSP-PAN + PicoHead",
            network="picodet_cli.models.detector:PicoDet",
            assigner="SimOTA",
            unused_keys=_UNUSED,
            deploy_postprocess="picodet_cli.models.postprocess:postprocess_deploy",
        ),
        Generation(
            name="v2",
            title="PicoDet v2 (2022): LCNet + LCPAN + PicoHeadV2 (task-aligned scores)",
            network="picodet_cli.models.v2.detector:PicoDetV2",
            assigner="ATSS, then TaskAligned from static_assigner_epoch",
            unused_keys=_UNUSED,
            deploy_postprocess="picodet_cli.models.v2.postprocess:postprocess_deploy",
            key_aliases=(
                (r"^head\.head_cls_list\.(\d+)\.", r"head.head_cls\1."),
                (r"^head\.head_reg_list\.(\d+)\.", r"head.head_reg\1."),
            ),
        ),
    )
}
DEFAULT_GENERATION = "v1"


def get_generation(name: str) -> Generation:
    """The registered generation `name`; unknown names raise with the list of known ones."""
    if name not in GENERATIONS:
        raise PicodetError(f"unknown detector generation '{name}'", f"one of: {', '.join(GENERATIONS)}")
    return GENERATIONS[name]
