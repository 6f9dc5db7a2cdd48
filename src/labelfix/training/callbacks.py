"""Callbacks for the training loop: metrics.csv, progress bars, the best checkpoint, EMA of weights, TensorBoard."""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from timm.utils import ModelEmaV3

from labelfix.fileio import write_text_atomic
from labelfix.progress import Progress
from labelfix.training.checkpoint import save_checkpoint
from labelfix.training.loop import Callback, Trainer

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("epoch", "phase", "train_loss", "val_loss", "val_accuracy", "lr")
MULTILABEL_COLUMNS = ("epoch", "phase", "train_loss", "val_loss", "val_accuracy", "val_map", "lr")


def metric_columns(metrics: dict) -> tuple[str, ...]:
    return MULTILABEL_COLUMNS if "val_map" in metrics else METRIC_COLUMNS


class MetricsFile(Callback):
    """metrics.csv, rewritten after each epoch. No timings in it, so equal seeds give identical files;
    epoch seconds are kept in `seconds` for run.json."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.seconds = Path(path), [], []

    def after_epoch(self, trainer: Trainer) -> None:
        self.rows.append({key: trainer.metrics.get(key, "") for key in metric_columns(trainer.metrics)})
        self.seconds.append(round(trainer.metrics["seconds"], 3))
        write_text_atomic(self.path, metrics_csv(self.rows))


def metrics_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


class EpochReport(Callback):
    """Hands each epoch's metrics to `report` as the epoch ends (the command line prints a row), with the
    epoch count, its seconds and the highest learning rate it used (the last one of a one-cycle epoch is tiny)."""

    def __init__(self, report: Callable[[dict], None]) -> None:
        self.report = report

    def after_epoch(self, trainer: Trainer) -> None:
        steps = len(trainer.train_batches)
        self.report({**{key: trainer.metrics.get(key) for key in metric_columns(trainer.metrics)}, "epochs": trainer.config.schedule.epochs,
                     "seconds": trainer.metrics["seconds"], "peak_lr": max(trainer.lr_history[-steps:], default=None)})


class ProgressBars(Callback):
    """One progress task per epoch, advanced per batch."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.stack = progress, ExitStack()

    def before_epoch(self, trainer: Trainer) -> None:
        epochs = trainer.config.schedule.epochs
        self.advance = self.stack.enter_context(
            self.progress.task(f"epoch {trainer.epoch + 1}/{epochs}", len(trainer.train_batches)))

    def after_batch(self, trainer: Trainer) -> None:
        self.advance(1)

    def after_epoch(self, trainer: Trainer) -> None:
        self.stack.close()
        shown = ", ".join(f"{k} {v:.4g}" for k, v in trainer.metrics.items() if isinstance(v, float) and k != "seconds")
        log.info("epoch %d: %s", trainer.epoch + 1, shown)


def is_better(metrics: dict, best: dict | None) -> bool:
    """Higher val_accuracy (label sets: val_map) wins, lower val_loss breaks ties; without validation, the latest
    epoch wins."""
    if best is None or "val_accuracy" not in metrics:
        return True
    key = "val_map" if "val_map" in metrics else "val_accuracy"
    return (metrics[key], -metrics["val_loss"]) > (best[key], -best["val_loss"])


class BestCheckpoint(Callback):
    """Saves the evaluated network (the EMA when on) whenever an epoch beats the best so far."""

    def __init__(self, path: Path, **fields) -> None:
        self.path, self.fields, self.best = Path(path), fields, None

    def after_epoch(self, trainer: Trainer) -> None:
        metrics = {k: v for k, v in trainer.metrics.items() if not (isinstance(v, float) and math.isnan(v))}
        if is_better(metrics, self.best):
            self.best = metrics
            save_checkpoint(self.path, trainer.eval_network, metrics=metrics, **self.fields)


class WeightAverage(Callback):
    """Exponential moving average of the weights (timm's ModelEmaV3); validation and checkpoints use it."""

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def before_fit(self, trainer: Trainer) -> None:
        self.average = ModelEmaV3(trainer.network, decay=self.decay, use_warmup=True, device=trainer.context.device)
        trainer.eval_network = self.average.module

    def after_step(self, trainer: Trainer) -> None:
        self.average.update(trainer.network, step=trainer.step)


class TensorBoard(Callback):
    """Per-epoch scalars and the per-step learning rate for TensorBoard (needs the `tensorboard` package)."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder))

    def after_step(self, trainer: Trainer) -> None:
        self.writer.add_scalar("lr", trainer.lr_history[-1], trainer.step)

    def after_epoch(self, trainer: Trainer) -> None:
        for key, value in trainer.metrics.items():
            if isinstance(value, float) and key != "seconds":
                self.writer.add_scalar(key, value, trainer.epoch + 1)

    def after_fit(self, trainer: Trainer) -> None:
        self.writer.close()


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True
