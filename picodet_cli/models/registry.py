"""Build PicoDet networks (any generation) from an ArchSpec, an architecture name or a zoo model name/alias."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..defaults import DEFAULT_INPUT_SIZE, DEFAULT_NUM_CLASSES
from ..errors import PicodetError
from ..zoo import ZooEntry, load_zoo
from .generations import get_generation
from .spec import ArchSpec


def resolve_arch(spec_or_name: ArchSpec | ZooEntry | str) -> tuple[ArchSpec, int | None]:
    """The ArchSpec and, for a zoo model, its input size; unknown names raise with a did-you-mean hint."""
    if isinstance(spec_or_name, ArchSpec):
        return spec_or_name, None
    if isinstance(spec_or_name, ZooEntry):
        return spec_or_name.arch, spec_or_name.input_size
    zoo = load_zoo()
    if spec_or_name in zoo.archs:
        return zoo.archs[spec_or_name], None
    entry = zoo.find(spec_or_name)
    if entry is None:
        raise PicodetError(f"unknown model or architecture '{spec_or_name}'", zoo.suggest(spec_or_name))
    return entry.arch, entry.input_size


def build_model(
    spec_or_name: ArchSpec | ZooEntry | str, num_classes: int = DEFAULT_NUM_CLASSES, input_size: int | None = None
) -> Any:
    """A freshly initialised network of the architecture's generation; `input_size` defaults to the zoo model's."""
    arch, zoo_size = resolve_arch(spec_or_name)
    network = get_generation(arch.generation).network_class()
    return network(arch, num_classes=num_classes, input_size=input_size or zoo_size or DEFAULT_INPUT_SIZE)


def _checkpoint_layout(state_dict: Mapping[str, Any]) -> dict[str, Any] | None:
    """Neck width, head width, head depth and cls/reg sharing as stored in a checkpoint."""
    try:
        neck = state_dict["neck.conv_t.convs.0.conv.weight"].shape[0]
        head = state_dict["head.conv_feat.cls_conv_pw0.0.conv.weight"].shape[0]
    except KeyError:
        return None
    convs = sum(1 for k in state_dict if k.startswith("head.conv_feat.cls_conv_pw0.") and k.endswith(".conv.weight"))
    return {
        "neck_channels": neck,
        "head_channels": head,
        "head_convs": convs,
        "share_cls_reg": "head.head_reg0.weight" not in state_dict,
    }


def arch_for_state_dict(state_dict: Mapping[str, Any], spec: ArchSpec) -> ArchSpec:
    """The zoo architecture a checkpoint was trained with, when it differs from `spec` in neck/head layout.

    This tells the two PicoDet-L variants apart (spec "Note L"): the `picodet_l_*` URLs may serve the
    160-ch shared-head L or the earlier 128-ch `picodet-l-seed128` with its separate regression tower.
    Only architectures of the same generation and backbone are considered; `spec` is returned when nothing fits
    better.
    """
    layout = _checkpoint_layout(state_dict)
    if layout is None or all(getattr(spec, k) == v for k, v in layout.items()):
        return spec
    for arch in load_zoo().archs.values():
        same_backbone = (arch.generation, arch.backbone, arch.backbone_args) == (
            spec.generation,
            spec.backbone,
            spec.backbone_args,
        )
        if same_backbone and all(getattr(arch, k) == v for k, v in layout.items()):
            return arch
    return spec
