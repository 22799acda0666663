"""Paddle-Lite export through the legacy toolchain: .nb files per target, x86 parity with the dygraph model."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from picodet_cli.errors import PicodetError
from picodet_cli.export.lite import export_lite, nb_name, run_lite
from picodet_cli.toolchain import envs
from picodet_cli.zoo import load_zoo

SIZE = 192
SCORE_ATOL = 1e-4
LOGIT_RTOL = 1e-4


def random_checkpoint(num_classes: int, path: Path, seed: int) -> tuple[object, dict[str, np.ndarray]]:
    """A PicoDet-S (Paddle 3.x dygraph, eval mode) with random non-trivial weights, also pickled to `path`."""
    from picodet_cli.models.detector import PicoDet

    model = PicoDet(load_zoo().archs["picodet-s"], num_classes=num_classes, input_size=SIZE)
    rng = np.random.default_rng(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if name.endswith("_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("_mean", "bias")):
            value = rng.normal(0.0, 0.2, shape)
        elif len(shape) == 4:  # conv weights: He-scaled so activations neither vanish nor explode
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        elif name.endswith("weight"):  # BN scale
            value = rng.normal(1.0, 0.1, shape)
        else:
            value = tensor.numpy()
        state[name] = np.asarray(value, dtype=np.float32)
    with open(path, "wb") as handle:
        pickle.dump(state, handle, protocol=4)
    model.set_state_dict(state)
    model.eval()
    return model, state


def dygraph_outputs(model: object, image: np.ndarray) -> list[np.ndarray]:
    import paddle

    with paddle.no_grad():
        return [out.numpy() for out in model(paddle.to_tensor(image))]


@pytest.mark.slow
@pytest.mark.parametrize(("num_classes", "fp16"), [(80, False), (4, True)])
def test_export_and_x86_parity(legacy: Path, tmp_path: Path, num_classes: int, fp16: bool):
    model, _ = random_checkpoint(num_classes, tmp_path / "weights.pdparams", seed=num_classes)
    out = tmp_path / "lite"
    paths = export_lite(
        tmp_path / "weights.pdparams", load_zoo().archs["picodet-s"], num_classes, SIZE, out, ["arm", "x86"], fp16
    )
    arm = "model_arm_fp16.nb" if fp16 else "model_arm.nb"
    assert [p.name for p in paths] == [arm, "model_x86.nb"]
    assert all(p.stat().st_size > 1_000_000 for p in paths)
    assert (out / "legacy" / "model.pdmodel").is_file() and (out / "legacy" / "model.pdiparams").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([arm, "model_x86.nb", "legacy"])  # no work folders left

    image = np.random.default_rng(7).uniform(-2.0, 2.0, (1, 3, SIZE, SIZE)).astype(np.float32)
    expected = dygraph_outputs(model, image)
    got = run_lite(out / "model_x86.nb", image)
    assert [g.shape for g in got] == [e.shape for e in expected]
    levels = len(expected) // 2
    assert expected[0].shape == (1, (SIZE // 8) ** 2, num_classes) and expected[levels].shape[-1] == 32
    for exp, out_lite in zip(expected[:levels], got[:levels], strict=True):
        assert np.abs(out_lite - exp).max() < SCORE_ATOL
        assert exp.max() > 0.05  # the random weights give non-trivial scores
    for exp, out_lite in zip(expected[levels:], got[levels:], strict=True):
        assert np.abs(out_lite - exp).max() < LOGIT_RTOL * np.abs(exp).max()

    # an arm file under another name gets past the name check; its crash comes back as one line
    shutil.copy(paths[0], tmp_path / "disguised.nb")
    with pytest.raises(PicodetError, match=r"running disguised\.nb with Paddle-Lite crashed with SIG") as info:
        run_lite(tmp_path / "disguised.nb", image)
    log = Path(info.value.message.rsplit("; see ", 1)[1])
    assert log.name == "worker.log" and log.is_file()
    shutil.rmtree(log.parent)


@pytest.mark.slow
@pytest.mark.parametrize(("postprocess", "fp16"), [("decode", False), ("nms", True)])
def test_decode_and_nms_in_the_lite_graph(legacy: Path, tmp_path: Path, postprocess: str, fp16: bool):
    """The module-level export heads trace under paddle 2.6 too; the x86 twin passes verification."""
    from .conftest import export

    model, _ = random_checkpoint(4, tmp_path / "weights.pdparams", seed=4)
    result = export(model, tmp_path / "out", ["lite"], postprocess=postprocess, fp16=fp16)["lite"]
    assert result.status == "ok", f"{result.error} {result.hint}"
    arm = "model_arm_fp16.nb" if fp16 else "model_arm.nb"
    assert sorted(p.name for p in result.files) == sorted([arm, "model_x86.nb", "picodet.json"])
    image = result.verification["inputs"]["image"]
    assert image["boxes"] > 10 and image["agreement"] == 1.0
    names = ["boxes", "scores"] if postprocess == "decode" else ["bbox", "bbox_num"]
    assert list(image["outputs"]) == names


@pytest.mark.slow
def test_state_dict_that_does_not_fit_is_one_clear_error(legacy: Path, tmp_path: Path):
    random_checkpoint(80, tmp_path / "weights.pdparams", seed=0)
    arch = load_zoo().archs["picodet-s"]
    with pytest.raises(PicodetError) as info:
        export_lite(tmp_path / "weights.pdparams", arch, 4, SIZE, tmp_path / "out", ["x86"], fp16=False)
    message = info.value.message
    assert message.startswith("saving the legacy Paddle program (paddle 2.6.2) failed: checkpoint does not fit")
    assert "\n" not in message and "checkpoint has 80 classes" in info.value.hint and "worker.log" in info.value.hint
    assert not (tmp_path / "out" / "model_x86.nb").exists()


def test_arm_files_are_not_run_here(tmp_path: Path):
    nb = tmp_path / nb_name("arm", fp16=True)
    nb.write_bytes(b"\0")
    with pytest.raises(PicodetError, match=r"arm \.nb files cannot run on x86; verified via the x86 twin"):
        run_lite(nb, np.zeros((1, 3, SIZE, SIZE), np.float32))


@pytest.mark.parametrize(
    ("targets", "postprocess", "match"),
    [(["riscv"], "none", "bad Paddle-Lite target"), ([], "none", "none given"), (["x86"], "all", "postprocess 'all'")],
)
def test_bad_arguments_fail_before_any_work(tmp_path: Path, targets: list[str], postprocess: str, match: str):
    arch = load_zoo().archs["picodet-s"]
    with pytest.raises(PicodetError, match=match):
        export_lite(tmp_path / "w.pdparams", arch, 80, SIZE, tmp_path / "out", targets, False, postprocess)
    assert not (tmp_path / "out").exists()


def test_nb_names():
    assert nb_name("arm", False) == "model_arm.nb"
    assert nb_name("arm", True) == "model_arm_fp16.nb"
    assert nb_name("x86", True) == "model_x86.nb"


def test_offline_without_toolchain_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envs.ROOT_ENV, str(tmp_path / "no-toolchains"))
    monkeypatch.setenv("PICODET_OFFLINE", "1")
    weights = tmp_path / "w.pdparams"
    weights.write_bytes(b"\x80\x04")
    out = tmp_path / "out"
    with pytest.raises(PicodetError, match="PICODET_OFFLINE=1 forbids downloading it"):
        export_lite(weights, load_zoo().archs["picodet-s"], 80, SIZE, out, ["x86"], False)
    assert list(out.iterdir()) == []  # no work folder left behind
