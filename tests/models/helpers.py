"""Helpers for the network tests: manifest -> zoo architecture, checkpoint-shaped dicts, golden weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from picodet_cli.models.spec import ArchSpec
from picodet_cli.zoo import load_zoo


def arch_for_config(config: dict[str, Any], generation: str = "v1") -> ArchSpec:
    """The single zoo.toml architecture of `generation` that a manifest's upstream `config` describes."""
    kwargs = config["backbone_kwargs"]
    found = [
        arch
        for arch in load_zoo().archs.values()
        if arch.generation == generation
        and arch.backbone == config["backbone"]
        and all(kwargs.get(k) == v for k, v in arch.backbone_args.items())
        and (arch.neck_channels, arch.head_channels, arch.head_convs, arch.share_cls_reg)
        == tuple(config[k] for k in ("neck_out_channels", "head_feat_channels", "head_num_convs", "share_cls_reg"))
    ]
    assert len(found) == 1, f"{len(found)} zoo architectures match {config}"
    return found[0]


def zeros_state_dict(manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """A checkpoint-shaped state dict (all zeros) from a manifest."""
    return {name: np.zeros(shape, dtype=np.float32) for name, shape, _ in manifest["state_dict"]}


def read_pdparams(path: Path) -> dict[str, np.ndarray]:
    """A golden weight file as name -> numpy array (tests only; the CLI uses the safe loader)."""
    import paddle

    return paddle.load(str(path), return_numpy=True)
