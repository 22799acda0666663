"""Shared by the v1 and v2 golden fixtures: rebuild the reference's weight files and its random inputs.

The trimmed fixtures keep the perturbed weights whole and the other two weight files as deltas; the inputs are
`RandomState(0)` normal draws (the generator's), recreated here instead of being stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def unpack_weights_and_inputs(src: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write weights*.pdparams into `out` (created); return the eval image [1,3,320,320] and train batch [2,...]."""
    import paddle

    out.mkdir(parents=True)
    rs = np.random.RandomState(0)
    image, batch = (rs.standard_normal(shape).astype(np.float32) for shape in ((1, 3, 320, 320), (2, 3, 320, 320)))
    base = dict(np.load(src / "weights_perturbed.npz"))
    for name in ("weights_perturbed", "weights", "weights_train"):
        delta = dict(np.load(src / f"{name}.delta.npz")) if name != "weights_perturbed" else {}
        paddle.save({k: paddle.to_tensor(delta.get(k, v)) for k, v in base.items()}, str(out / f"{name}.pdparams"))
    return image, batch
