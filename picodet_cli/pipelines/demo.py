"""`picodet demo`: the product end to end, offline, on a generated dataset of shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import get_settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def demo_recipe_path() -> Path:
    from ..recipe.loader import default_recipes_dir

    return default_recipes_dir() / "demo.toml"


@dataclass
class DemoResult:
    """Where everything the demo made lives, with its headline numbers."""

    dataset: Path
    run_dir: Path
    outcomes: list[Any] = field(default_factory=list)  # runner.StageOutcome per stage
    weights: Path | None = None
    predictions: Path | None = None
    note: str | None = None  # what the numbers mean (the quick run only checks the pipeline)


QUICK_NOTE = (
    "--quick checks that every stage runs (2 epochs on 96 images): the model has not learned yet, so mAP near 0 "
    "is expected; `picodet demo` trains a model that finds the shapes (mAP50 about 0.9)"
)
IMAGES = (360, 60)  # generated (train, validation) images of the demo, and of --quick
QUICK_IMAGES = (96, 24)
SAMPLE_SCORE_THRESHOLD = 0.4  # the demo's sample predictions: a little lower than predict's default, to show more


def demo_run_dir(out: Path, quick: bool) -> Path:
    """The run folder: `out` itself (runs/demo), or `<out>-quick` so a quick look never replaces a trained demo."""
    return out.with_name(out.name + "-quick") if quick else out


def demo_overrides(dataset: Any, out: Path, quick: bool) -> list[str]:
    """`--set` overrides that point the demo recipe at the generated data and the run folder."""
    sets = [
        f'data.root="{dataset.root}"',
        f'data.train_images="{dataset.train_images}"',
        f'data.train_annotations="{dataset.train_annotations}"',
        f'data.val_images="{dataset.val_images}"',
        f'data.val_annotations="{dataset.val_annotations}"',
        f'output.dir="{demo_run_dir(out, quick)}"',
    ]
    if quick:
        sets += ["train.epochs=2", "train.eval_interval=2", "train.save_interval=2", "train.warmup_steps=10"]
        sets += ['export.formats=["onnx"]']
    return sets


def available_stages(quick: bool) -> list[str]:
    """Stages the demo runs: all five, less those whose modules are not part of this installation."""
    import importlib.util

    if quick:
        return ["train", "eval", "export"]
    optional = {"quantize": "picodet_cli.slim", "bench": "picodet_cli.bench"}
    return [
        s
        for s in ("train", "eval", "quantize", "export", "bench")
        if importlib.util.find_spec(optional.get(s, "picodet_cli")) is not None
    ]


def run_demo(
    out: Path,
    *,
    quick: bool = False,
    fresh: bool = False,
    reporter: Any = None,
    say: Callable[[str], None] = print,
    cache_dir: Path | None = None,
) -> DemoResult:
    """Generate data, then `picodet run` the demo recipe, then predict; everything is written under `out`."""
    from ..data.synthetic import generate_shapes_dataset
    from ..recipe.loader import load_recipe
    from .stages import run_recipe

    recipe_path = demo_recipe_path()
    base = load_recipe(recipe_path)
    data_root = get_settings(cache_dir).cache_dir / "datasets" / ("demo-shapes-quick" if quick else "demo-shapes")
    say(f"dataset: generating (or reusing) synthetic shapes in {data_root}")
    counts = QUICK_IMAGES if quick else IMAGES
    dataset = generate_shapes_dataset(data_root, counts[0], counts[1], base.model.input_size)
    overrides = demo_overrides(dataset, out, quick)
    recipe = load_recipe(recipe_path, overrides)
    outcomes = run_recipe(recipe, overrides, only=available_stages(quick), force=fresh, reporter=reporter, say=say)
    run_dir = Path(recipe.output.dir)
    result = DemoResult(dataset=data_root, run_dir=run_dir, outcomes=outcomes, note=QUICK_NOTE if quick else None)
    train = next(o for o in outcomes if o.name == "train")
    result.weights = Path(train.summary["weights"])
    say("predict: annotated images of validation shapes and a bundled photo")
    result.predictions = predict_samples(result.weights, dataset, run_dir / "predict")
    return result


def predict_samples(weights: Path, dataset: Any, out: Path) -> Path:
    """Run the trained model on two validation images and a bundled photo: drawn images + predictions.json."""
    from ..predict.batch import predict_images
    from ..predict.predictor import Detector

    detector = Detector(str(weights), score_threshold=SAMPLE_SCORE_THRESHOLD)
    images = [*sorted(Path(dataset.val_images).iterdir())[:2], ASSETS / "astronaut.jpg"]
    return predict_images(detector, images, out, str(weights)).path
