"""Dataset indexing at COCO train2017 scale, and whether the loader keeps the trainer fed; JSON out.

    python benchmarks/data_index.py --out data_index.json
    python benchmarks/data_index.py --images 20000 --boxes 145000 --skip-train    # a quicker look

In a temporary folder it generates a COCO instances json the size of train2017 (118,287 images, 860,001 boxes,
80 categories, each box with its rectangle as a polygon `segmentation`) and a YOLO folder of the same size
(`labels/train2017/*.txt`, one line per box, and a `data.yaml`). The image files are hard links to one small
JPEG (their content is not read when indexing: COCO gives the size, YOLO reads the header). Each format is
indexed by `read_dataset` in its own process, which reports the wall time and its peak resident memory
(`VmHWM`, with the baseline after imports alongside). Target: < 10 s and < 1 GB each.

Then, in one process on generated shapes at 320 px: the training loader's images per second (batch 8, the
recipe's augmentations, `--workers` processes, no model) and the trainer's (PicoDet-S, the same batches already
in memory, forward + backward + update), so loader / trainer > 1 means the loader keeps the trainer fed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COCO_IMAGES, COCO_BOXES = 118_287, 860_001
TARGET_S, TARGET_MB = 10.0, 1024
LINKS_PER_FILE = 50_000


def cpu_info() -> dict[str, str]:
    """Model name and flags of the first CPU in /proc/cpuinfo."""
    info = {}
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "flags") and key.strip() not in info:
            info[key.strip()] = value.strip()
    return {"model": info.get("model name", platform.processor()), "flags": info.get("flags", "")}


def generate(root: Path, images: int, boxes: int) -> dict[str, Path]:
    """The COCO json, the YOLO data.yaml and the shared image folder under `root`."""
    import cv2
    import numpy as np

    rng = random.Random(0)
    folder = root / "images" / "train2017"
    folder.mkdir(parents=True)
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 127, np.uint8))[1].tobytes()
    (root / "labels" / "train2017").mkdir(parents=True)
    per_image = [boxes // images + (1 if i < boxes % images else 0) for i in range(images)]
    entries, annotations = [], []
    for i, count in enumerate(per_image):
        name = f"{i + 1:012d}.jpg"
        source = root / f"one_{i // LINKS_PER_FILE}.jpg"  # a file takes at most 65,000 hard links (ext4)
        if i % LINKS_PER_FILE == 0:
            source.write_bytes(jpeg)
        os.link(source, folder / name)
        entries.append({"id": i + 1, "file_name": name, "width": 640, "height": 480, "license": 1})
        lines = []
        for _ in range(count):
            w, h = rng.uniform(8, 300), rng.uniform(8, 300)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            cls = rng.randrange(80)
            poly = [round(v, 2) for v in (x, y, x + w, y, x + w, y + h, x, y + h)]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cls + 1,
                                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                                "area": round(w * h, 2), "iscrowd": 0, "segmentation": [poly]})  # fmt: skip
            lines.append(f"{cls} {(x + w / 2) / 640:.6f} {(y + h / 2) / 480:.6f} {w / 640:.6f} {h / 480:.6f}")
        (root / "labels" / "train2017" / f"{i + 1:012d}.txt").write_text("\n".join(lines) + "\n")
    categories = [{"id": k + 1, "name": f"class{k}", "supercategory": "thing"} for k in range(80)]
    coco = root / "annotations" / "instances_train2017.json"
    coco.parent.mkdir()
    with open(coco, "w") as handle:
        json.dump({"images": entries, "annotations": annotations, "categories": categories}, handle)
    names = "\n".join(f"  {k}: class{k}" for k in range(80))
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train2017\nval: images/train2017\nnames:\n{names}\n")
    return {"coco": coco, "yolo": root / "data.yaml", "images": folder}


CHILD = """
import json, sys, time
from pathlib import Path
from picodet_cli.data.index import read_dataset

def peak_mb():  # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's, kept over exec)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

fmt, images, annotations = sys.argv[1:4]
base = peak_mb()
start = time.perf_counter()
index = read_dataset(fmt, Path(images), Path(annotations), keep_empty=False, warn=False)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb(), "baseline_rss_mb": base,
                  "images": len(index), "boxes": sum(len(r.boxes) for r in index.records)}))
"""


def index_once(fmt: str, images: Path, annotations: Path) -> dict[str, Any]:
    """Index one dataset in a fresh process; its time and memory."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", CHILD, fmt, str(images), str(annotations)], capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip
    if done.returncode:
        return {"error": done.stderr[-2000:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["meets_target"] = result["seconds"] < TARGET_S and result["peak_rss_mb"] < TARGET_MB
    return result


def loader_vs_trainer(root: Path, steps: int, workers: int) -> dict[str, Any]:
    """Images per second of the training loader alone and of the training step alone, in this process."""
    import itertools

    from picodet_cli.data.loader import make_train_loader
    from picodet_cli.data.synthetic import generate_shapes_dataset
    from picodet_cli.engine.trainer import Trainer
    from picodet_cli.recipe.loader import default_recipes_dir, load_recipe

    data = generate_shapes_dataset(root / "shapes", 64, 8, 320)
    sets = [f'data.root="{data.root}"', f'data.train_images="{data.train_images}"',
            f'data.train_annotations="{data.train_annotations}"', f'data.val_images="{data.val_images}"',
            f'data.val_annotations="{data.val_annotations}"', f'output.dir="{root / "run"}"',
            "model.input_size=320", "augment.sizes=[320]", "train.batch_size=8",
            f"train.workers={workers}"]  # fmt: skip
    trainer = Trainer(load_recipe(default_recipes_dir() / "demo.toml", sets))
    cfg, aug = trainer.cfg, trainer.recipe.augment

    def batches():
        for epoch in itertools.count():
            yield from make_train_loader(trainer.train_index, cfg.batch_size, list(aug.sizes), aug.flip, aug.crop,
                                         aug.distort, aug.random_interp, workers, cfg.seed, epoch)  # fmt: skip

    stream = batches()
    next(stream)  # workers started
    start = time.perf_counter()
    kept = [next(stream) for _ in range(steps)]
    loader_s = time.perf_counter() - start
    trainer.model.train()
    trainer.train_step(kept[0])  # warm-up (kernel load, first allocation)
    start = time.perf_counter()
    for batch in kept:
        trainer.train_step(batch)
    train_s = time.perf_counter() - start
    images = steps * cfg.batch_size
    loader, train = images / loader_s, images / train_s
    return {"workers": workers, "steps": steps, "batch": cfg.batch_size, "loader_img_per_s": loader,
            "trainer_img_per_s": train, "loader_over_trainer": loader / train}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=COCO_IMAGES)
    parser.add_argument("--boxes", type=int, default=COCO_BOXES)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("data_index.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"cpu": cpu_info(), "cores": os.cpu_count(), "python": platform.python_version(),
                              "images": args.images, "boxes": args.boxes, "target": {"seconds": TARGET_S,
                              "peak_rss_mb": TARGET_MB}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="picodet-data-index-") as tmp:
        start = time.perf_counter()
        paths = generate(Path(tmp), args.images, args.boxes)
        report["generate_seconds"] = time.perf_counter() - start
        report["coco_json_mb"] = paths["coco"].stat().st_size / 2**20
        report["coco"] = index_once("coco", paths["images"], paths["coco"])
        report["yolo"] = index_once("yolo", Path(tmp) / "train", paths["yolo"])
        print(json.dumps({k: report[k] for k in ("coco", "yolo")}, indent=1), flush=True)
        if not args.skip_train:
            report["loader_vs_trainer"] = loader_vs_trainer(Path(tmp), args.steps, args.workers)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "cpu"}, indent=1))


if __name__ == "__main__":
    main()
