"""FP32 vs INT8 accuracy after the demo training: PTQ and QAT on the generated shapes dataset; write JSON.

    python benchmarks/quant_accuracy.py --out quant_accuracy.json [--weights best.pdparams] [--data DIR] [--skip-qat]

Trains PicoDet-S with recipes/demo.toml on the demo's generated dataset (or takes `--weights` from an earlier
run), then runs `picodet quantize` PTQ (the recipe's [quantize] settings) and QAT (`--qat-epochs` epochs at
`--qat-lr`) from those weights. mAP comes from each run's quant_report.json: FP32 is the Paddle model, INT8 the
onnxruntime QDQ model, the OpenVINO NNCF model and the Paddle INT8 program. Targets (issue 16): mAP(0.5:0.95) drop
<= 1.0 point for PTQ, <= 0.5 for QAT.
Needs the legacy toolchain (provisioned on first use) and takes tens of minutes on 2 cores.

Speed is benchmarks/quant_speed.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

TARGETS = {"ptq": 1.0, "qat": 0.5}  # largest acceptable mAP(0.5:0.95) drop in points


def demo_recipe(data_root: Path, out: Path, extra: list[str]):
    """recipes/demo.toml on the demo's shapes dataset in `data_root` (generated there unless it exists)."""
    from picodet_cli.data.synthetic import generate_shapes_dataset
    from picodet_cli.recipe.loader import default_recipes_dir, load_recipe

    size = load_recipe(default_recipes_dir() / "demo.toml").model.input_size
    data = generate_shapes_dataset(data_root, 360, 60, size)  # what `picodet demo` trains on
    sets = [
        f'data.root="{data.root}"', f'data.train_images="{data.train_images}"',
        f'data.train_annotations="{data.train_annotations}"', f'data.val_images="{data.val_images}"',
        f'data.val_annotations="{data.val_annotations}"', f'output.dir="{out}"', *extra,
    ]  # fmt: skip
    return load_recipe(default_recipes_dir() / "demo.toml", sets)


def summary(report: dict, method: str) -> dict:
    drops = {rt: d["map"] for rt, d in report["drop"].items()}
    return {
        "fp32": report["fp32"],
        "int8": report["int8"],
        "drop_points": report["drop"],
        "target_map_drop": TARGETS[method],
        "meets_target": all(d <= TARGETS[method] for d in drops.values()),
        "latency": report["latency"],
        "quantized_layers": report["quantized_layers"],
        "layers": report.get("layers"),
        "cpu": report.get("cpu"),
        "seconds": report["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quant_accuracy.json"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench-quant"), help="data, runs and INT8 models")
    parser.add_argument("--weights", type=Path, help="trained FP32 weights (skip the demo training)")
    parser.add_argument("--data", type=Path, help="the demo's shapes dataset (default: generated under --work)")
    parser.add_argument("--epochs", type=int, default=12, help="demo training epochs")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--qat-lr", type=float, default=0.005)
    parser.add_argument("--skip-qat", action="store_true")
    args = parser.parse_args()

    from picodet_cli.engine.trainer import Trainer
    from picodet_cli.slim.from_recipe import quantize_recipe

    start = time.perf_counter()
    data = args.data or args.work / "data"
    recipe = demo_recipe(data, args.work / "train", [f"train.epochs={args.epochs}"])
    weights = args.weights
    if weights is None:
        trainer = Trainer(recipe, resume=(args.work / "train" / "checkpoints" / "last.ckpt").exists())
        result = trainer.fit()
        weights = result.best_weights or result.last_weights
    results: dict = {"weights": str(weights), "platform": platform.platform(), "processor": platform.processor()}
    results["ptq"] = summary(quantize_recipe(recipe, weights, "ptq", args.work / "ptq"), "ptq")
    if not args.skip_qat:
        qat = demo_recipe(
            data, args.work / "qat-run",
            [f"quantize.epochs={args.qat_epochs}", f"quantize.lr={args.qat_lr}", "train.warmup_steps=20"],
        )  # fmt: skip
        results["qat"] = summary(quantize_recipe(qat, weights, "qat", args.work / "qat"), "qat")
    results["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(results, indent=2))
    for method in ("ptq", "qat"):
        if method in results:
            r = results[method]
            print(f"{method}: FP32 mAP50 {r['fp32']['map50']:.4f}; drop (points) {r['drop_points']}; "
                  f"target <= {r['target_map_drop']}: {'met' if r['meets_target'] else 'MISSED'}")  # fmt: skip
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
