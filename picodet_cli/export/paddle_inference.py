"""PicoDet (or an export wrapper) -> Paddle inference model (PIR model.json + model.pdiparams); the `paddle` writer."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .staging import check_written


def write(ctx: Any) -> list[Path]:
    """The `paddle` format: the oneDNN variant of the export layer (the plain one for nms, see `onednn_variant`)."""
    from .deploy_graph import build_export_layer

    postprocess = ctx.options.postprocess
    layer = ctx.layer if postprocess == "nms" else build_export_layer(onednn_variant(ctx.model), postprocess)
    return export_paddle(layer, ctx.folder, ctx.input_size, postprocess)


def onednn_variant(model: Any) -> Any:
    """A copy of `model` whose neck upsamples by reshape + expand (same values): with no interpolation op in the
    program, Paddle Inference runs every op on oneDNN (paddle 3.3.1's oneDNN interpolation fails). Not for
    `--postprocess nms` programs: with every op on oneDNN, 3.3.1's NMS returns no boxes."""
    from ..models.neck import repeat_upsample_to

    variant = copy.deepcopy(model)
    variant.neck.upsample = repeat_upsample_to
    return variant


@contextlib.contextmanager
def layers_as_python() -> Iterator[None]:
    """While tracing, picodet's own functions run as plain Python on static tensors instead of being rewritten by
    dy2static's AST transformer (the traced `forward` still is). Their control flow depends on configuration, never
    on tensor values, so the program is the same (measured: identical model.json for the demo model), and a
    jit.save takes 0.6 s instead of 4.4 (the transformer parses and rewrites every function it meets)."""
    import paddle
    from paddle.jit.dy2static import convert_call_func

    import picodet_cli

    ignored = convert_call_func.BUILTIN_LIKELY_MODULES
    added = picodet_cli not in ignored
    paddle.jit.ignore_module([picodet_cli])
    try:
        yield
    finally:
        if added and picodet_cli in ignored:
            ignored.remove(picodet_cli)  # other code traced later in this process is converted as usual


def export_paddle(layer: Any, out_dir: Path, input_size: int, postprocess: str) -> list[Path]:
    """`paddle.jit.save` with a fixed InputSpec [1, 3, H, W] named `image` (+ `scale_factor` [1, 2] for nms)."""
    import paddle
    from paddle.static import InputSpec

    specs = [InputSpec([1, 3, input_size, input_size], "float32", "image")]
    if postprocess == "nms":
        specs.append(InputSpec([1, 2], "float32", "scale_factor"))
    out_dir.mkdir(parents=True, exist_ok=True)
    layer.eval()
    with layers_as_python():
        paddle.jit.save(layer, str(out_dir / "model"), input_spec=specs)
    params = out_dir / "model.pdiparams"
    check_written(params, sum(int(v.numel()) * v.element_size() for v in layer.state_dict().values()))
    return [out_dir / "model.json", params]
