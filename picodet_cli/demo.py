"""`picodet demo`: the product end to end, offline, on a generated dataset of shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings import get_settings

ASSETS = Path(__file__).resolve().parent / "assets"


def demo_recipe_path() -> Path:
    from .recipe import default_recipes_dir

    return default_recipes_dir() / "demo.toml"


@dataclass
class DemoResult:
    """Where everything the demo made lives, with its headline numbers."""

    dataset: Path
    run_dir: Path
    weights: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    exports: list[dict[str, Any]] = field(default_factory=list)
    predictions: Path | None = None
    stages: list[str] = field(default_factory=list)


def demo_overrides(dataset: Any, out: Path, quick: bool) -> list[str]:
    """`--set` overrides that point the demo recipe at the generated data and the output folder."""
    sets = [
        f'data.train_images="{dataset.train_images}"',
        f'data.train_annotations="{dataset.train_annotations}"',
        f'data.val_images="{dataset.val_images}"',
        f'data.val_annotations="{dataset.val_annotations}"',
        f'output.dir="{out / ("train-quick" if quick else "train")}"',
    ]
    if quick:
        sets += ["train.epochs=2", "train.eval_interval=2", "train.save_interval=2", "train.warmup_steps=10"]
    return sets


def run_demo(
    out: Path,
    *,
    quick: bool = False,
    fresh: bool = False,
    reporter: Any = None,
    say: Callable[[str], None] = print,
    cache_dir: Path | None = None,
) -> DemoResult:
    """Generate data, train, evaluate, export and predict; every step writes under `out`."""
    import shutil

    from .data.synthetic import generate_shapes_dataset
    from .engine.trainer import Trainer
    from .recipe import load_recipe

    recipe_path = demo_recipe_path()
    base = load_recipe(recipe_path)
    data_root = get_settings(cache_dir).cache_dir / "datasets" / ("demo-shapes-quick" if quick else "demo-shapes")
    say(f"[1/4] dataset: generating (or reusing) synthetic shapes in {data_root}")
    counts = (96, 24) if quick else (360, 60)
    dataset = generate_shapes_dataset(data_root, counts[0], counts[1], base.model.input_size)
    recipe = load_recipe(recipe_path, demo_overrides(dataset, out, quick))
    if fresh and recipe.output.dir.exists():
        shutil.rmtree(recipe.output.dir)
    resume = (recipe.output.dir / "checkpoints" / "last.ckpt").exists()
    say(f"[2/4] train: {recipe.model.arch} at {recipe.model.input_size} px for {recipe.train.epochs} epochs")
    trainer = Trainer(recipe, resume=resume, reporter=reporter)
    trained = trainer.fit()
    result = DemoResult(dataset=data_root, run_dir=trained.run_dir, stages=["data", "train"])
    result.weights = trained.best_weights or trained.last_weights
    if trained.interrupted or result.weights is None:
        return result
    say("[3/4] eval: COCO mAP of the EMA weights on the validation images")
    result.metrics = trainer.evaluate()
    result.stages.append("eval")
    say("[4/4] predict: annotated images of validation shapes and a bundled photo")
    result.predictions = predict_samples(result.weights, dataset, out / "predict")
    result.stages.append("predict")
    return result


def predict_samples(weights: Path, dataset: Any, out: Path) -> Path:
    """Run the trained model on two validation images and a bundled photo; write drawn images + JSON."""
    import cv2

    from .data.transforms import read_image
    from .io import write_bytes_atomic, write_json_atomic
    from .predictor import Detector
    from .visualize import draw_detections

    detector = Detector(str(weights), score_threshold=0.4)
    images = [*sorted(Path(dataset.val_images).iterdir())[:2], ASSETS / "astronaut.jpg"]
    records = []
    for path in images:
        bgr = read_image(path)
        record = detector.predict(bgr).to_dict() | {"image": str(path)}
        ok, encoded = cv2.imencode(".jpg", draw_detections(bgr, record["detections"]))
        if ok:
            write_bytes_atomic(out / f"{path.stem}.jpg", encoded.tobytes())
        records.append(record)
    write_json_atomic(out / "predictions.json", records)
    return out
