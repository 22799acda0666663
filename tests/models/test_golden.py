"""The network reproduces the upstream PicoDet features and head outputs on the golden weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from picodet_cli.models.loading import load_weights
from picodet_cli.models.registry import build_model

from .helpers import read_pdparams

VARIANTS = [("weights.pdparams", "io.npz"), ("weights_perturbed.pdparams", "io_perturbed.npz")]
TOL = {"atol": 1e-4, "rtol": 1e-4}


@pytest.mark.parametrize(("weights", "io"), VARIANTS, ids=["upstream-init", "perturbed"])
def test_features_and_head_outputs(golden_dirs: list[Path], weights: str, io: str) -> None:
    for folder in golden_dirs:
        model = build_model(folder.name)  # the folder is named like the zoo alias, e.g. picodet_s_320
        report = load_weights(model, read_pdparams(folder / weights))
        assert report.ok and not report.reinitialized
        model.eval()
        ref = np.load(folder / io)
        image = paddle.to_tensor(ref["image"])
        with paddle.no_grad():
            backbone_feats, fpn_feats = model.features(image)
            cls_logits, bbox_reg = model.head_outputs(image)
            deploy = model(image)
        got = {f"backbone_feat_{i}": t for i, t in enumerate(backbone_feats)}
        for prefix, tensors in (("fpn_feat", fpn_feats), ("cls_logits", cls_logits), ("bbox_reg", bbox_reg)):
            got.update({f"{prefix}_l{i}": t for i, t in enumerate(tensors)})
        compared = [key for key in got if key in ref]  # the fixtures keep the features a variant needs
        assert {"cls_logits_l0", "bbox_reg_l0"} <= set(compared)
        for key in compared:
            tensor = got[key]
            np.testing.assert_allclose(tensor.numpy(), ref[key], **TOL, err_msg=f"{folder.name}/{io}: {key}")
        levels = len(model.strides)
        scores = np.concatenate([t.numpy() for t in deploy[:levels]], axis=1)
        np.testing.assert_allclose(scores.transpose(0, 2, 1), ref["full_scores"], atol=1e-5)
        for level in range(levels):
            n, c, h, w = ref[f"bbox_reg_l{level}"].shape
            rows = ref[f"bbox_reg_l{level}"].reshape(n, c, h * w).transpose(0, 2, 1)
            np.testing.assert_allclose(deploy[levels + level].numpy(), rows, **TOL)


def test_detect_matches_upstream_nms(golden_dirs: list[Path]) -> None:
    for folder in golden_dirs:
        model = build_model(folder.name)
        load_weights(model, read_pdparams(folder / "weights_perturbed.pdparams"))
        model.eval()
        ref = np.load(folder / "io_perturbed.npz")
        bbox, bbox_num = model.detect(ref["image"], ref["im_shape"], ref["scale_factor"])
        np.testing.assert_array_equal(bbox_num, ref["bbox_num"])
        order = np.lexsort(bbox.T[::-1])
        ref_order = np.lexsort(ref["bbox"].T[::-1])
        # 1e-2 px, the box tolerance the v2 issue states: the boxes go through the whole network, and AVX-512
        # oneDNN kernels land 1.25e-3 px away from the AVX2 ones on 480 px coordinates
        np.testing.assert_allclose(bbox[order], ref["bbox"][ref_order], atol=1e-2)
