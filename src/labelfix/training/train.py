"""`labelfix train`: dataset → split → fine-tuned network → run folder (checkpoint, metrics, evaluation)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import yaml

from labelfix import plots
from labelfix.config import TrainConfig
from labelfix.fileio import write_text_atomic
from labelfix.progress import NoProgress, Progress
from labelfix.run_folder import library_versions, run_folder
from labelfix.seeding import seed_everything
from labelfix.training import distributed
from labelfix.training.callbacks import (
    BestCheckpoint,
    EpochReport,
    MetricsFile,
    ProgressBars,
    TensorBoard,
    WeightAverage,
    tensorboard_available,
)
from labelfix.training.checkpoint import load_checkpoint, save_thresholds
from labelfix.training.data import (
    TrainingSet,
    batches_for_training,
    read_training_set,
    with_device_batch_size,
    worker_count,
)
from labelfix.training.distributed import Context
from labelfix.training.evaluate import evaluate_checkpoint
from labelfix.training.loop import Callback, Trainer
from labelfix.training.lr_finder import LrSweep, sweep_learning_rate
from labelfix.training.multilabel import choose_thresholds
from labelfix.training.network import build_network
from labelfix.training.predict import file_probabilities
from labelfix.training.splits import SPLIT_FILE, split_csv

log = logging.getLogger(__name__)

DETERMINISM = {
    "cpu": "two CPU runs with the same seed, thread count and library versions give identical metrics.csv",
    "gpu": "--deterministic (config: deterministic: true) sets torch.use_deterministic_algorithms(True), "
           "torch.backends.cudnn.benchmark = False and CUBLAS_WORKSPACE_CONFIG=:4096:8; also train in fp32 "
           "(--precision fp32); "
           "the cost is slower epochs (no cuDNN autotuning, slower deterministic kernels, no mixed precision; "
           "not measured on this project's CPU-only machine); "
           "some operations then raise an error instead of running non-deterministically",
}


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    evaluation: dict
    record: dict = field(default_factory=dict)


def train(path: str | Path, config: TrainConfig | None = None, *, progress: Progress = NoProgress(),
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Fine-tune a classifier on the dataset at `path` and write the run folder (on the main process);
    `on_epoch` gets each epoch's metrics as it ends (see `EpochReport`)."""
    config = config or TrainConfig()
    context = distributed.start(config.device)
    try:
        return _train(path, config, context, progress, on_epoch)
    finally:
        distributed.stop(context)


def _train(path: str | Path, config: TrainConfig, context: Context, progress: Progress,
           on_epoch: Callable[[dict], None] | None) -> TrainResult:
    started = datetime.now(timezone.utc)
    config = with_device_batch_size(config, context.device)
    seed_everything(config.seed)
    if config.deterministic:
        make_deterministic()
    data = read_training_set(path, config)
    run_dir = run_folder(config.out, data.manifest, f"train-{data.manifest.name}")
    classes = list(data.manifest.classes)
    network = build_network(config.model, len(classes), config.seed)
    train_batches, val_batches = batches_for_training(data, network, config, context)
    lr, sweep = config.schedule.lr, None
    if lr is None:
        sweep = sweep_learning_rate(network, train_batches, config, context, multilabel=data.multilabel)
        lr = float(sum_mean(sweep.suggestion, context))
        log.info("lr finder suggests %.2e", lr)
    resolved = config.model_copy(deep=True, update={"out": run_dir})
    resolved.schedule.lr = lr
    config_dump = resolved.model_dump(mode="json")
    callbacks: list[Callback] = [WeightAverage(config.regularization.ema_decay)] if config.regularization.ema_decay > 0 else []
    metrics_file = MetricsFile(run_dir / "metrics.csv")
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config_dump, sort_keys=False))
        write_text_atomic(run_dir / SPLIT_FILE, split_csv(data.manifest, data.splits, data.trained))
        if sweep is not None:
            plots.save_png(plots.lr_sweep(sweep.lrs, sweep.losses, sweep.suggestion), run_dir / "lr_find.png")
        best = BestCheckpoint(run_dir / "checkpoint.pt", architecture=network.architecture, classes=classes,
                              data_config=network.data_config, config=config_dump, multilabel=data.multilabel)
        callbacks += [ProgressBars(progress), metrics_file, best, *([EpochReport(on_epoch)] if on_epoch else [])]
        callbacks += _tensorboard(config, run_dir)
    trainer = Trainer(network.module, train_batches, val_batches, resolved, lr, context=context, callbacks=callbacks,
                      multilabel=data.multilabel)
    trainer.fit()
    distributed.barrier(context)
    evaluation: dict = {}
    if context.is_main:
        plots.save_png(plots.training_curves(metrics_file.rows), run_dir / "curves.png")
        if data.validating.any():
            options = {"tta": config.evaluation.tta, "batch_size": config.data.batch_size,
                       "workers": worker_count(config), "device": context.device, "progress": progress}
            if data.multilabel:
                _choose_thresholds(run_dir / "checkpoint.pt", data, options)
            evaluation = evaluate_checkpoint(load_checkpoint(run_dir / "checkpoint.pt", context.device),
                                             data.paths(data.validating), data.labels(data.validating), run_dir,
                                             **options)
        record = run_record(resolved, data, context, started, metrics_file.seconds, sweep)
        write_text_atomic(run_dir / "run.json", json.dumps(record, indent=2, default=str) + "\n")
        return TrainResult(run_dir=run_dir, metrics=metrics_file.rows, evaluation=evaluation, record=record)
    return TrainResult(run_dir=run_dir, metrics=[], evaluation={})


def _choose_thresholds(checkpoint_path: Path, data: TrainingSet, options: dict) -> None:
    """A multi-label checkpoint's per-class thresholds: the best F1 of each class on the validation images."""
    probabilities, readable = file_probabilities(load_checkpoint(checkpoint_path, options["device"]),
                                                 data.paths(data.validating), **options)
    save_thresholds(checkpoint_path, choose_thresholds(data.labels(data.validating)[readable], probabilities).tolist())


def make_deterministic() -> None:
    """Deterministic kernels on CUDA: no cuDNN autotuning, cuBLAS workspace fixed; ops without one raise."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)


def sum_mean(value: float, context: Context) -> float:
    """The mean of `value` over processes, so every process trains with the same lr."""
    return distributed.sum_over_processes([value], context)[0] / context.world_size


def _tensorboard(config: TrainConfig, run_dir: Path) -> list[Callback]:
    if not config.tensorboard:
        return []
    if not tensorboard_available():
        log.warning('tensorboard logging skipped: the tensorboard package is not installed (pip install "labelfix[tensorboard]")')
        return []
    return [TensorBoard(run_dir / "tensorboard")]


def run_record(config: TrainConfig, data: TrainingSet, context: Context, started: datetime, epoch_seconds: list[float],
               sweep: LrSweep | None) -> dict:
    counts = {split: int((data.splits == split).sum()) for split in np.unique(data.splits)}
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "seed": config.seed,
        "device": str(context.device),
        "processes": context.world_size,
        "torch_threads": torch.get_num_threads(),
        "dataset": {"root": str(data.manifest.root), "format": data.manifest.source, "classes": list(data.manifest.classes),
                    "images": counts, "trained": int(data.trained.sum())},
        "lr": config.schedule.lr,
        "lr_finder_suggestion": sweep.suggestion if sweep is not None else None,
        "epoch_seconds": epoch_seconds,
        "images_per_second": round(int(data.trained.sum()) * len(epoch_seconds) / max(sum(epoch_seconds), 1e-9), 2),
        "determinism": DETERMINISM,
        "deterministic": config.deterministic,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "versions": library_versions(),
    }
