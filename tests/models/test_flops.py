"""The FLOPs counter against the published PicoDet GFLOPs (2 x MACs of convs; see picodet_cli.models.flops)."""

from __future__ import annotations

import pytest

from picodet_cli.models.flops import count_flops
from picodet_cli.models.registry import build_model
from picodet_cli.zoo import load_zoo

# The README's tool also counted some element-wise work, so its numbers are 0.5-4.5% above ours.
BELOW = 0.05


@pytest.mark.parametrize("name", ["s-320", "s-416", "m-320", "m-416", "l-640", "shufflenetv2-1x-416"])
def test_matches_published_gflops(name: str) -> None:
    entry = load_zoo().get(name)
    gflops = count_flops(build_model(name), entry.input_size)
    assert entry.gflops * (1 - BELOW) <= gflops <= entry.gflops, f"{name}: {gflops:.3f} vs {entry.gflops}"


def test_exact_values_and_input_size() -> None:
    model = build_model("s-320")
    assert count_flops(model, 320) == pytest.approx(0.701927056, rel=1e-9)
    assert count_flops(model, (320, 640)) == pytest.approx(2 * 0.701927056, rel=0.01)
    assert model.training  # the counter restores the mode it found
