"""Shared fixtures: the trimmed reference data in tests/fixtures, and an isolated picodet cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`tests/fixtures`: the trimmed reference data the tests carry (origin and licences in its README)."""
    return FIXTURES


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """Sample photos (rocket.jpg 640x427, chelsea.png 451x300)."""
    return FIXTURES / "images"


@pytest.fixture(scope="session")
def coco_eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public COCOeval fixture (100 val2014 images' ground truth + fake detections), unpacked."""
    import gzip

    folder = tmp_path_factory.mktemp("coco_eval")
    for packed in (FIXTURES / "coco_eval").glob("*.json.gz"):
        (folder / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    return folder


@pytest.fixture(scope="session")
def golden_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The v1 golden folder (`picodet_s_320`) with the reference's file names, rebuilt from tests/fixtures/golden_v1."""
    return [_unpack_golden_v1(FIXTURES / "golden_v1", tmp_path_factory.mktemp("golden") / "picodet_s_320")]


def _unpack_golden_v1(src: Path, out: Path) -> Path:
    """Write weights*.pdparams, io*.npz and train_step*.npz as the reference has them (see tests/fixtures/build.py)."""
    import shutil

    import numpy as np
    from golden_unpack import unpack_weights_and_inputs

    image, batch = unpack_weights_and_inputs(src, out)
    for name in ("io.npz", "io_perturbed.npz"):
        d = dict(np.load(src / name))
        levels = sum(k.startswith("cls_logits_l") for k in d)
        logits = np.concatenate([d[f"cls_logits_l{i}"].reshape(1, 80, -1) for i in range(levels)], axis=2)
        scores = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
        decoded = scores[:, :, d.pop("decoded_index")]
        np.savez(out / name, image=image, full_scores=scores, decoded_scores=decoded, **d)
    for packed in src.glob("train_step*.npz"):
        np.savez(out / packed.name, image=batch, **np.load(packed))
    shutil.copy(src / "meta.json", out / "meta.json")
    return out


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PICODET_HOME and no mirror/offline settings from the caller's shell."""
    home = tmp_path_factory.mktemp("picodet_home")
    monkeypatch.setenv("PICODET_HOME", str(home))
    for var in ("PICODET_OFFLINE", "PICODET_MIRROR", "PICODET_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory: pytest.TempPathFactory):
    """A tiny generated COCO dataset (16 train / 8 val images of shapes at 256 px), shared by the session."""
    from picodet_cli.data.synthetic import generate_shapes_dataset

    return generate_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", 16, 8, 256)


@pytest.fixture(scope="session")
def tiny_sets(shapes_data):
    """`--set` overrides that point recipes/demo.toml at `shapes_data` and make training tiny (128 px, batch 4)."""

    def sets(out: Path | str, *extra: str) -> list[str]:
        data = shapes_data
        return [
            f'data.root="{data.root}"',
            f'data.train_images="{data.train_images}"',
            f'data.train_annotations="{data.train_annotations}"',
            f'data.val_images="{data.val_images}"',
            f'data.val_annotations="{data.val_annotations}"',
            f'output.dir="{out}"',
            "model.input_size=128",
            "augment.sizes=[128]",
            "train.batch_size=4",
            "train.workers=0",
            *extra,
        ]

    return sets


@pytest.fixture(scope="session", autouse=True)
def kernels_dir() -> Path:
    """PICODET_KERNELS_DIR for the session (the caller's, else a per-user temp folder): one kernel build per run.

    Every test has its own PICODET_HOME, so without this each training test would compile the C++ kernels again.
    """
    import os
    import tempfile

    from picodet_cli.kernels import DIR_ENV

    preset = os.environ.get(DIR_ENV)
    root = Path(preset) if preset else Path(tempfile.gettempdir()) / f"picodet-test-kernels-{os.getuid()}"
    os.environ[DIR_ENV] = str(root)
    yield root
    if not preset:
        os.environ.pop(DIR_ENV, None)


@pytest.fixture(scope="session")
def toolchains() -> Path:
    """PICODET_TOOLCHAINS for the session: the caller's, else one per-user temp folder that later runs reuse.

    (Not pytest's tmp_path, which pytest prunes, also while a long session still runs.) pnnx and the `legacy`
    toolchain are installed there once.
    """
    import os
    import tempfile

    preset = os.environ.get("PICODET_TOOLCHAINS")
    root = Path(preset) if preset else Path(tempfile.gettempdir()) / f"picodet-test-toolchains-{os.getuid()}"
    os.environ["PICODET_TOOLCHAINS"] = str(root)
    yield root
    if not preset:
        os.environ.pop("PICODET_TOOLCHAINS", None)


@pytest.fixture(scope="session")
def legacy_toolchain(toolchains: Path) -> Path:
    """The real `legacy` toolchain in `toolchains`, provisioned once (needs Python 3.10, and PyPI the first time)."""
    from picodet_cli.errors import PicodetError
    from picodet_cli.toolchain import envs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(toolchains))
        mp.delenv("PICODET_OFFLINE", raising=False)
        try:
            envs.find_python("3.10")
        except PicodetError as exc:
            pytest.skip(str(exc))
        envs.install("legacy")
    return toolchains


@pytest.fixture(scope="session")
def arm_emulator_toolchain(toolchains: Path) -> Path:
    """The real `arm-emulator` toolchain folder in `toolchains`, provisioned once (x86_64 Linux; Debian mirror
    and PyPI the first time)."""
    from picodet_cli.errors import PicodetError
    from picodet_cli.toolchain import arm_emulator, envs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ROOT_ENV, str(toolchains))
        mp.delenv("PICODET_OFFLINE", raising=False)
        try:
            arm_emulator.check_host()
        except PicodetError as exc:
            pytest.skip(str(exc))
        return arm_emulator.install()


@pytest.fixture
def legacy(legacy_toolchain: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PICODET_TOOLCHAINS pointing at the provisioned toolchains folder."""
    from picodet_cli.toolchain import envs

    monkeypatch.setenv(envs.ROOT_ENV, str(legacy_toolchain))
    return legacy_toolchain
