"""picodet's C++ depthwise-conv kernel: built with the real compiler, checked against Paddle's own kernels."""

from __future__ import annotations

import shutil

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from picodet_cli import kernels

pytestmark = pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler on this machine")


@pytest.fixture
def fast_kernels():
    reason = kernels.enable()
    assert reason is None, reason
    yield
    kernels.disable()


def relative_error(a: paddle.Tensor, b: paddle.Tensor) -> float:
    a, b = a.numpy(), b.numpy()
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


@pytest.mark.parametrize(
    ("channels", "size", "kernel", "stride"),
    [(8, 16, 3, 1), (6, 15, 5, 1), (8, 16, 3, 2), (5, 13, 5, 2), (4, 1, 3, 1)],
)
def test_depthwise_matches_paddle(fast_kernels, channels: int, size: int, kernel: int, stride: int) -> None:
    rng = np.random.default_rng(kernel * 10 + stride)
    x = paddle.to_tensor(rng.standard_normal((2, channels, size, size + 3), dtype=np.float32), stop_gradient=False)
    w = paddle.to_tensor(rng.standard_normal((channels, 1, kernel, kernel), dtype=np.float32), stop_gradient=False)
    pad = kernel // 2
    ref = F.conv2d(x, w, stride=stride, padding=pad, groups=channels)
    out = kernels.depthwise_conv2d(x, w, stride, pad)
    assert out.shape == ref.shape
    grad_out = paddle.to_tensor(rng.standard_normal(ref.shape, dtype=np.float32))
    ref_grads = paddle.grad([ref], [x, w], [grad_out])
    grads = paddle.grad([out], [x, w], [grad_out])
    assert relative_error(ref, out) < 1e-5
    for expected, got in zip(ref_grads, grads, strict=True):
        assert relative_error(expected, got) < 1e-5


def test_threads_give_identical_results() -> None:
    rng = np.random.default_rng(3)
    x = paddle.to_tensor(rng.standard_normal((3, 7, 12, 12), dtype=np.float32), stop_gradient=False)
    w = paddle.to_tensor(rng.standard_normal((7, 1, 3, 3), dtype=np.float32), stop_gradient=False)
    grad_out = paddle.to_tensor(rng.standard_normal((3, 7, 6, 6), dtype=np.float32))
    results = []
    for threads in (1, 2, 3):
        assert kernels.enable(threads=threads) is None
        out = kernels.depthwise_conv2d(x, w, 2, 1)
        results.append([t.numpy() for t in (out, *paddle.grad([out], [x, w], [grad_out]))])
    kernels.disable()
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_training_step_same_with_and_without_kernels() -> None:
    from picodet_cli.losses import compute_losses
    from picodet_cli.models.registry import build_model

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=3, input_size=96)
    model.train()
    image = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 96, 96), dtype=np.float32))
    boxes = [np.array([[10, 12, 60, 70]], np.float32), np.array([[5, 5, 40, 30], [50, 40, 90, 90]], np.float32)]
    classes = [np.array([1]), np.array([0, 2])]

    def step() -> tuple[float, np.ndarray]:
        cls, reg = model.head_outputs(image)
        losses = compute_losses(
            cls, reg, boxes, classes, strides=model.strides, reg_max=model.reg_max, num_classes=model.num_classes
        )
        first_depthwise = next(p for n, p in model.named_parameters() if p.shape[1:] == [1, 3, 3])
        (grad,) = paddle.grad([losses["loss"]], [first_depthwise])
        return float(losses["loss"]), grad.numpy()

    loss_ref, grad_ref = step()
    assert kernels.enable() is None
    try:
        loss_fast, grad_fast = step()
    finally:
        kernels.disable()
    assert loss_fast == pytest.approx(loss_ref, rel=1e-5)
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-3, atol=1e-5 * np.abs(grad_ref).max())


def test_switched_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.SWITCH_ENV, "0")
    assert kernels.enable() == f"{kernels.SWITCH_ENV}=0"
    assert not kernels.active()


def test_build_is_reused(fast_kernels) -> None:
    folder = kernels.build_dir()
    assert folder.parent == kernels.kernels_root()
    assert any(folder.rglob("*.so"))
    assert not kernels.needs_build()


@pytest.mark.skipif(shutil.which("ldd") is None, reason="no ldd on this machine")
def test_build_shares_paddles_openmp_runtime(fast_kernels) -> None:
    """The kernels run on the OpenMP pool of MKL's GEMMs (Paddle's libiomp5), not a second one of their own."""
    import subprocess
    from pathlib import Path

    if not (Path(paddle.__file__).parent / "libs" / "libiomp5.so").is_file():
        pytest.skip("this Paddle build ships no libiomp5")
    library = next(kernels.build_dir().rglob("*.so"))
    linked = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True).stdout
    assert "libiomp5.so" in linked


def test_hardswish_matches_paddle_exactly(fast_kernels) -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.standard_normal(500) * 4, [-3.0, 3.0, 0.0, -1.5, 2.9999, -3.0001]])
    x = paddle.to_tensor(values.astype(np.float32).reshape(2, 1, 1, -1), stop_gradient=False)
    grad_out = paddle.to_tensor(rng.standard_normal(x.shape, dtype=np.float32))
    ref, out = F.hardswish(x), kernels.hardswish(x)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(
        paddle.grad([out], [x], [grad_out])[0].numpy(), paddle.grad([ref], [x], [grad_out])[0].numpy()
    )


@pytest.mark.parametrize(
    ("act", "reference"), [("identity", lambda y: y), ("hard_swish", F.hardswish), ("relu", F.relu)]
)
@pytest.mark.parametrize("size", [(4, 6, 9, 7), (3, 5, 1, 1), (2, 3, 20, 20)])
def test_batch_norm_act_matches_paddle(fast_kernels, act: str, reference, size: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(size))
    values = rng.standard_normal(size, dtype=np.float32) * 3 + 1
    ref_norm, norm = paddle.nn.BatchNorm2D(size[1]), paddle.nn.BatchNorm2D(size[1])
    for layer in (ref_norm, norm):
        layer.weight.set_value(rng.uniform(0.5, 2, size[1]).astype(np.float32))
        layer.bias.set_value(np.linspace(-1, 1, size[1]).astype(np.float32))
        layer._mean.set_value(np.full(size[1], 0.5, np.float32))
    norm.weight.set_value(ref_norm.weight.numpy())
    norm.bias.set_value(ref_norm.bias.numpy())
    x_ref = paddle.to_tensor(values, stop_gradient=False)
    x = paddle.to_tensor(values, stop_gradient=False)
    ref = reference(ref_norm(x_ref))
    out = kernels.batch_norm_act(x, norm, kernels.ACT_CODES[act])
    grad_out = paddle.to_tensor(rng.standard_normal(size, dtype=np.float32))
    ref_grads = paddle.grad([ref], [x_ref, ref_norm.weight, ref_norm.bias], [grad_out])
    grads = paddle.grad([out], [x, norm.weight, norm.bias], [grad_out])
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    for expected, got in zip(ref_grads, grads, strict=True):
        assert relative_error(expected, got) < 1e-4
    for running in ("_mean", "_variance"):  # momentum-averaged batch mean and biased variance, as Paddle's
        np.testing.assert_allclose(getattr(norm, running).numpy(), getattr(ref_norm, running).numpy(), rtol=1e-5)
        assert getattr(norm, running).stop_gradient


POOLS = [((2, 3, 16, 16), 3, 2, 1), ((1, 2, 9, 11), 3, 2, 1), ((2, 2, 8, 8), 2, 2, 0), ((1, 1, 5, 5), 3, 1, 1)]


@pytest.mark.parametrize(("size", "kernel", "stride", "pad"), POOLS)
def test_max_pool_matches_paddle(fast_kernels, size, kernel: int, stride: int, pad: int) -> None:
    rng = np.random.default_rng(7)
    values = rng.standard_normal(size, dtype=np.float32)
    values[..., :2, :2] = 0.0  # ties: the first largest in the window gets the gradient, as in Paddle
    x_ref = paddle.to_tensor(values, stop_gradient=False)
    x = paddle.to_tensor(values, stop_gradient=False)
    ref = F.max_pool2d(x_ref, kernel, stride, pad)
    out = kernels.max_pool2d(x, kernel, stride, pad)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    grad_out = paddle.to_tensor(rng.standard_normal(ref.shape, dtype=np.float32))
    np.testing.assert_array_equal(
        paddle.grad([out], [x], [grad_out])[0].numpy(), paddle.grad([ref], [x_ref], [grad_out])[0].numpy()
    )


@pytest.mark.parametrize("size", [(2, 6, 5, 7), (8, 16, 8, 8)])
def test_upsample2x_matches_reshape_expand_to_the_bit(fast_kernels, size) -> None:
    """The neck's training upsample: the values and the summed gradient of reshape + expand, bit for bit."""
    from picodet_cli.models.layers import trains_on_kernels
    from picodet_cli.models.neck import repeat_upsample_to

    rng = np.random.default_rng(11)
    x_ref = paddle.to_tensor(rng.standard_normal(size, dtype=np.float32), stop_gradient=False)
    x = paddle.to_tensor(x_ref.numpy(), stop_gradient=False)
    like = paddle.zeros([1, 1, 2 * size[2], 2 * size[3]])
    assert trains_on_kernels(x)  # what makes repeat_upsample_to take the kernel in training
    out = kernels.upsample2x(x)
    kernels.disable()
    ref = repeat_upsample_to(x_ref, like)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    grad_out = paddle.to_tensor(rng.standard_normal(ref.shape, dtype=np.float32) * 1e3)
    (grad,), (grad_ref,) = paddle.grad([out], [x], [grad_out]), paddle.grad([ref], [x_ref], [grad_out])
    np.testing.assert_array_equal(grad.numpy(), grad_ref.numpy())
