"""The training loop: recipe in, run folder out (checkpoints, EMA weights, metrics log), resumable."""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from ..defaults import IN_PROCESS_EVAL_IMAGES
from ..errors import PicodetError
from ..settings import use_mkl_avx2_on_amd
from .checkpoint import TrainState, claim_run_dir, load_checkpoint, save_checkpoint, save_weights
from .ema import ModelEMA
from .evaluate import evaluate_detector, paddle_detect_fn
from .optim import build_optimizer
from .schedule import WarmupCosine

LOSS_KEYS = ("loss", "loss_vfl", "loss_bbox", "loss_dfl")


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    interrupted: bool
    best_map: float
    best_epoch: int
    last_weights: Path | None
    best_weights: Path | None
    history: list[dict[str, Any]]


class Trainer:
    """Trains a PicoDet as a recipe declares; `fit()` runs (or resumes) the whole schedule."""

    def __init__(
        self,
        recipe: Any,
        *,
        resume: bool = False,
        reporter: Any = None,
        rank: int = 0,
        world_size: int = 1,
        grad_sync: Any = None,
        num_pos_reduce: Any = None,
        exist_ok: bool = False,
    ) -> None:
        from ..data.index import read_dataset
        from ..models.pretrained import create_model

        use_mkl_avx2_on_amd()  # before the first convolution of this process
        self.recipe = recipe
        self.cfg = recipe.train
        self.rank, self.world_size = rank, world_size
        self.grad_sync, self.num_pos_reduce = grad_sync, num_pos_reduce
        self.reporter = reporter or SilentReporter()
        self.run_dir = Path(recipe.output.dir)
        self.ckpt_path = self.run_dir / "checkpoints" / "last.ckpt"
        if rank == 0:  # a folder that is not a picodet run (or is another recipe's) is refused unless exist_ok
            claim_run_dir(self.run_dir, recipe.path, exist_ok=exist_ok)
        if self.ckpt_path.exists() and not resume:
            raise PicodetError(
                f"{self.run_dir} already holds a run",
                "continue it with --resume, or choose another output folder (--set output.dir=...)",
            )
        data = recipe.data
        classes = list(data.classes) or None
        self.train_index = read_dataset(
            data.format, data.train_images, data.train_annotations, classes, keep_empty=False
        )
        self.val_index = read_dataset(data.format, data.val_images, data.val_annotations, self.train_index.class_names)
        batches = len(self.train_index) // (self.cfg.batch_size * world_size)
        if batches < 1:
            raise PicodetError(
                f"{recipe.path}: train.batch_size: {self.cfg.batch_size} x {world_size} device(s) is larger than "
                f"the {len(self.train_index)} training images",
                "lower train.batch_size",
            )
        self.iters_per_epoch = batches
        self.fast_kernels = self.enable_fast_kernels()
        num_classes = recipe.model.num_classes or len(self.train_index.class_names)
        self.seed_everything(self.cfg.seed)
        init = recipe.weights.init
        loaded = create_model(
            recipe.model.arch,
            None if init in (None, "none") else init,
            pretrained=False,
            num_classes=num_classes,
            input_size=recipe.model.input_size or None,
            strict=recipe.weights.strict,
        )
        self.model = loaded.model
        self.load_report = loaded.report
        self.input_size = self.model.input_size
        self.optimizer = build_optimizer(self.model, self.cfg.lr, self.cfg.momentum, self.cfg.weight_decay)
        self.schedule = WarmupCosine(
            self.cfg.lr,
            self.cfg.warmup_steps,
            max(self.cfg.cosine_epochs, 1) * self.iters_per_epoch,
            self.cfg.warmup_start_factor,
        )
        self.ema = ModelEMA(self.model, self.cfg.ema_decay, self.cfg.ema_cycle_epochs) if self.cfg.ema else None
        self.state = TrainState()
        if resume:
            self.restore()

    def enable_fast_kernels(self) -> bool:
        """On a CPU: `train.threads` math threads and picodet's C++ kernels (compiled on first use), else Paddle's."""
        import os

        from .. import kernels

        if not paddle.get_device().startswith("cpu"):
            return False
        threads = self.cfg.threads or max(1, (os.cpu_count() or 1) // self.world_size)
        paddle.base.core.set_num_threads(threads)
        if kernels.needs_build():
            self.reporter.note("compiling picodet's CPU training kernels (once per machine, about 30 s)")
        reason = kernels.enable(threads)
        if reason:
            self.reporter.note(f"fast CPU kernels off: {reason}; training uses Paddle's kernels (slower)")
        return reason is None

    # -- state -------------------------------------------------------------------------------------------------
    @staticmethod
    def seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        paddle.seed(seed)

    def model_meta(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "arch": asdict(self.model.arch),
            "arch_name": self.model.arch.name,
            "num_classes": self.model.num_classes,
            "class_names": self.train_index.class_names,
            "category_ids": self.train_index.category_ids,
            "input_size": self.input_size,
            "recipe": str(self.recipe.path),
        }

    def optimizer_state(self) -> dict[str, Any]:
        """Optimizer accumulators keyed by structured parameter names (Paddle's own names vary per process)."""
        to_structured = {p.name: n for n, p in self.model.named_parameters()}
        state = {}
        for key, value in self.optimizer.state_dict().items():
            param, _, slot = key.partition("_velocity")
            name = f"{to_structured[param]}::velocity{slot}" if slot and param in to_structured else key
            state[name] = value.numpy() if isinstance(value, paddle.Tensor) else value
        return state

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        to_paddle = {n: p.name for n, p in self.model.named_parameters()}
        restored = {}
        for key, value in state.items():
            name, sep, slot = key.partition("::velocity")
            key = f"{to_paddle[name]}_velocity{slot}" if sep else key
            restored[key] = paddle.to_tensor(value) if isinstance(value, np.ndarray) else value
        self.optimizer.set_state_dict(restored)

    def save(self) -> None:
        if self.rank != 0:
            return
        save_checkpoint(
            self.ckpt_path,
            model={k: v.numpy() for k, v in self.model.state_dict().items()},
            ema=self.ema.raw_state() if self.ema else None,
            optimizer=self.optimizer_state(),
            state=self.state,
            meta=self.model_meta(),
            rng={"python": random.getstate(), "numpy": np.random.get_state()},
        )
        save_weights(self.run_dir / "weights", "last", self.eval_state_dict(), self.model_meta())

    def restore(self) -> None:
        data = load_checkpoint(self.ckpt_path)
        self.model.set_state_dict({k: paddle.to_tensor(v) for k, v in data["model"].items()})
        if self.ema and data["ema"]:
            self.ema.load_raw_state(data["ema"])
        self.load_optimizer_state(data["optimizer"])
        self.state = data["state"]
        random.setstate(data["rng"]["python"])
        np.random.set_state(data["rng"]["numpy"])

    def eval_state_dict(self) -> dict[str, np.ndarray]:
        if self.ema and self.ema.updates:
            return self.ema.state_dict()
        return {k: v.numpy() for k, v in self.model.state_dict().items()}

    # -- loop --------------------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        lr = self.schedule(self.state.step)
        self.optimizer.set_lr(lr)
        losses = self.model.compute_losses(
            paddle.to_tensor(batch["image"]),
            batch["gt_bboxes"],
            batch["gt_classes"],
            epoch=self.state.epoch,
            static_assigner_epoch=self.cfg.static_assigner_epoch,
            num_pos_reduce=self.num_pos_reduce,
        )
        losses["loss"].backward()
        if self.grad_sync is not None:
            self.grad_sync(self.model)
        if self.cfg.clip_grad_norm > 0:
            clip_gradients(self.model, self.cfg.clip_grad_norm)
        self.optimizer.step()
        self.optimizer.clear_grad()
        if self.ema:
            self.ema.update(self.model)
        self.state.step += 1
        values = {k: float(losses[k]) for k in LOSS_KEYS}
        if not np.isfinite(values["loss"]):
            raise PicodetError(
                f"training diverged at step {self.state.step} (loss {values['loss']})",
                "lower train.lr or increase train.warmup_steps",
            )
        return values | {"lr": lr}

    def evaluate(self) -> dict[str, float]:
        from ..models.registry import build_model

        model = build_model(self.model.arch, num_classes=self.model.num_classes, input_size=self.input_size)
        model.set_state_dict({k: paddle.to_tensor(v) for k, v in self.eval_state_dict().items()})
        ev = self.recipe.eval
        detect = paddle_detect_fn(
            model, score_threshold=ev.score_threshold, nms_threshold=ev.nms_threshold, keep_top_k=ev.keep_top_k
        )
        workers = self.cfg.workers if len(self.val_index) > IN_PROCESS_EVAL_IMAGES else 0
        result, _ = evaluate_detector(detect, self.val_index, self.input_size, ev.batch_size, workers)
        return {"map": result.map, "map50": result.map50, "map75": result.map75}

    def fit(self) -> TrainResult:
        from ..data.loader import make_train_loader

        cfg, aug = self.cfg, self.recipe.augment
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / "metrics.jsonl"
        deadline = time.monotonic() + cfg.time_limit * 60 if cfg.time_limit > 0 else None
        interrupted = False
        self.reporter.start(self, total_steps=cfg.epochs * self.iters_per_epoch)
        try:
            while self.state.epoch < cfg.epochs:
                epoch = self.state.epoch
                if self.ema and self.state.batch_in_epoch == 0:
                    self.ema.maybe_reset(epoch)
                self.model.train()
                loader = make_train_loader(
                    self.train_index,
                    cfg.batch_size,
                    list(aug.sizes),
                    aug.flip,
                    aug.crop,
                    aug.distort,
                    aug.random_interp,
                    cfg.workers,
                    cfg.seed,
                    epoch,
                    drop_last=True,
                    rank=self.rank,
                    world_size=self.world_size,
                )
                batches = loader.from_batch(self.state.batch_in_epoch)
                for batch in itertools.islice(batches, self.iters_per_epoch - self.state.batch_in_epoch):
                    values = self.train_step(batch)
                    self.state.batch_in_epoch += 1
                    self.reporter.step(self, values)
                    if self.state.step % cfg.log_interval == 0:
                        self.log(log_path, {"epoch": epoch, "step": self.state.step, **values})
                    if deadline and time.monotonic() > deadline:
                        raise TimeLimitReached
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
                self.after_epoch(log_path)
        except TimeLimitReached:
            self.reporter.note(f"time limit of {cfg.time_limit:g} min reached: stopping with a checkpoint")
            self.finish_early(log_path)
        except KeyboardInterrupt:
            interrupted = True
            self.reporter.note("interrupted: saving a checkpoint (resume with --resume)")
            self.save()
        finally:
            self.reporter.stop()
        weights = self.run_dir / "weights"
        best = weights / "best.pdparams"
        return TrainResult(
            self.run_dir,
            self.state.epoch,
            self.state.step,
            interrupted,
            self.state.best_metric,
            self.state.best_epoch,
            weights / "last.pdparams" if (weights / "last.pdparams").exists() else None,
            best if best.exists() else None,
            self.state.history,
        )

    def after_epoch(self, log_path: Path) -> None:
        cfg, epoch = self.cfg, self.state.epoch
        last = epoch == cfg.epochs
        if last or (cfg.eval_interval > 0 and epoch % cfg.eval_interval == 0):
            self.run_eval(log_path)
        if last or (cfg.save_interval > 0 and epoch % cfg.save_interval == 0):
            self.save()

    def finish_early(self, log_path: Path) -> None:
        """Stop at a time limit: evaluate and save what was trained, and mark the schedule as done."""
        self.run_eval(log_path)
        self.save()

    def run_eval(self, log_path: Path) -> None:
        if self.rank != 0:
            return
        self.reporter.note(f"evaluating epoch {self.state.epoch} on {len(self.val_index)} images")
        metrics = self.evaluate()
        record = {"epoch": self.state.epoch, "step": self.state.step, **metrics}
        self.state.history.append(record)
        self.log(log_path, {"eval": True, **record})
        self.reporter.eval(self, metrics)
        if metrics["map"] > self.state.best_metric:
            self.state.best_metric, self.state.best_epoch = metrics["map"], self.state.epoch
            save_weights(self.run_dir / "weights", "best", self.eval_state_dict(), self.model_meta())

    def log(self, path: Path, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class TimeLimitReached(Exception):
    """Raised inside the loop when train.time_limit is reached."""


def clip_gradients(model: paddle.nn.Layer, max_norm: float) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = float(paddle.sqrt(sum((g * g).sum() for g in grads)))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g.set_value(g * scale)


class SilentReporter:
    """The reporter interface (the CLI passes a rich one); does nothing."""

    def start(self, trainer: Trainer, total_steps: int) -> None: ...
    def step(self, trainer: Trainer, values: dict[str, float]) -> None: ...
    def eval(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...
    def note(self, message: str) -> None: ...
    def stop(self) -> None: ...
