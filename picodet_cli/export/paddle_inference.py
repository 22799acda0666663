"""PicoDet (or an export wrapper) -> Paddle inference model (PIR model.json + model.pdiparams)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any


def onednn_variant(model: Any) -> Any:
    """A copy of `model` whose neck upsamples by reshape + expand (same values): with no interpolation op in the
    program, Paddle Inference runs every op on oneDNN (paddle 3.3.1's oneDNN interpolation fails). Not for
    `--postprocess nms` programs: with every op on oneDNN, 3.3.1's NMS returns no boxes."""
    from ..models.neck import repeat_upsample_to

    variant = copy.deepcopy(model)
    variant.neck.upsample = repeat_upsample_to
    return variant


def export_paddle(layer: Any, out_dir: Path, input_size: int, postprocess: str) -> list[Path]:
    """`paddle.jit.save` with a fixed InputSpec [1, 3, H, W] named `image` (+ `scale_factor` [1, 2] for nms)."""
    import paddle
    from paddle.static import InputSpec

    specs = [InputSpec([1, 3, input_size, input_size], "float32", "image")]
    if postprocess == "nms":
        specs.append(InputSpec([1, 2], "float32", "scale_factor"))
    out_dir.mkdir(parents=True, exist_ok=True)
    layer.eval()
    paddle.jit.save(layer, str(out_dir / "model"), input_spec=specs)
    return [out_dir / "model.json", out_dir / "model.pdiparams"]
