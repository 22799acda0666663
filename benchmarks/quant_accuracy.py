"""FP32 vs INT8 accuracy after the demo training: PTQ and QAT on the generated shapes dataset; write JSON.

    python benchmarks/quant_accuracy.py --out quant_accuracy.json [--weights best.pdparams] [--data DIR] [--skip-qat]

Trains PicoDet-S with recipes/demo.toml on the demo's generated dataset (or takes `--weights` from an earlier
run), then runs `picodet quantize` PTQ (the recipe's [quantize] settings) and QAT (`--qat-epochs` epochs at
`--qat-lr`) from those weights. mAP comes from each run's quant_report.json: FP32 is the Paddle model, INT8 the
onnxruntime QDQ model and the Paddle INT8 program. Targets (the issue's): PTQ drop <= 2 mAP50 points, QAT <= 1.
Needs the legacy toolchain (provisioned on first use) and takes tens of minutes on 2 cores.

`--speed` adds the issue's speed check: PicoDet-S at 416 px (random init; latency does not depend on the
weights), FP32 vs PTQ INT8 ONNX and its OpenVINO IR, timed in interleaved rounds so the ratios to the fastest
FP32 come from one run (target: best INT8 <= 0.6x).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

TARGETS = {"ptq": 2.0, "qat": 1.0}  # largest acceptable mAP50 drop in points


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
    drops = {rt: d["map50"] for rt, d in report["drop"].items()}
    return {
        "fp32": report["fp32"],
        "int8": report["int8"],
        "drop_points": report["drop"],
        "target_map50_drop": TARGETS[method],
        "meets_target": all(d <= TARGETS[method] for d in drops.values()),
        "latency": report["latency"],
        "quantized_layers": report["quantized_layers"],
        "seconds": report["seconds"],
    }


def speed_416(work: Path, calib_root: Path, rounds: int = 3) -> dict:
    """Median latency (ms, 2 threads) of FP32 and INT8 ONNX / OpenVINO for S-416 and the ratios to the best FP32."""
    import numpy as np
    import paddle

    from picodet_cli.data.index import read_dataset
    from picodet_cli.export.openvino import export_openvino
    from picodet_cli.models.registry import build_model
    from picodet_cli.slim.artifacts import artifact_meta, export_fp32
    from picodet_cli.slim.onnx_int8 import quantize_onnx
    from picodet_cli.slim.pipeline import calibration_images
    from picodet_cli.slim.report import latency_ms

    paddle.seed(0)
    model = build_model("picodet-s", num_classes=80, input_size=416)
    names = [str(i) for i in range(80)]
    fp32 = export_fp32(model, "s-416", names, work)["onnx"]
    index = read_dataset("coco", calib_root / "val" / "images", calib_root / "val" / "annotations.json")
    int8 = work / "onnx_int8" / "model.onnx"
    quantize_onnx(fp32, int8, calibration_images(index, 416, 16), artifact_meta(model, "s-416", names, "onnx"),
                  "Percentile", 99.9)  # fmt: skip
    files = {
        "onnxruntime/fp32": fp32, "onnxruntime/int8": int8,
        "openvino/fp32": export_openvino(fp32, work / "ov_fp32" / "model.xml", False)[0],
        "openvino/int8": export_openvino(int8, work / "ov_int8" / "model.xml", False)[0],
    }  # fmt: skip
    times: dict[str, list[float]] = {key: [] for key in files}
    for _ in range(rounds):
        for key, path in files.items():
            times[key].append(latency_ms(path, key.split("/")[0], 416, 20, 2))
    ms = {key: round(float(np.median(v)), 2) for key, v in times.items()}
    best = min(v for k, v in ms.items() if k.endswith("fp32"))
    ratios = {key: round(v / best, 2) for key, v in ms.items()}
    best_int8 = min(v for k, v in ratios.items() if k.endswith("int8"))
    return {"ms": ms, "ratio_to_best_fp32": ratios, "best_int8_ratio": best_int8, "meets_target": best_int8 <= 0.6}


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
    parser.add_argument("--speed", action="store_true", help="also time FP32 vs INT8 for S-416")
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
    if args.speed:
        results["speed_s416"] = speed_416(args.work / "s416", data)
        print(f"S-416 latency, ratio to the best FP32: {results['speed_s416']['ratio_to_best_fp32']}")
    results["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(results, indent=2))
    for method in ("ptq", "qat"):
        if method in results:
            r = results[method]
            print(f"{method}: FP32 mAP50 {r['fp32']['map50']:.4f}; drop (points) {r['drop_points']}; "
                  f"target <= {r['target_map50_drop']}: {'met' if r['meets_target'] else 'MISSED'}")  # fmt: skip
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
