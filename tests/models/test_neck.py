"""CSP-PAN pieces."""

from __future__ import annotations

import numpy as np
import paddle


def test_repeat_upsampling_equals_nearest_interpolation():
    from picodet_cli.models.neck import repeat_upsample_to, upsample_to

    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, 5, 7)).astype(np.float32))
    for like_shape in ([1, 1, 10, 14], [1, 1, 9, 13]):  # doubling: reshape + expand; otherwise interpolation
        like = paddle.zeros(like_shape)
        np.testing.assert_array_equal(repeat_upsample_to(x, like).numpy(), upsample_to(x, like).numpy())
