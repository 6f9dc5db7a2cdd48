"""`labelfix train`: dataset → split → fine-tuned network → run folder (checkpoint, metrics, evaluation)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from labelfix.config import TrainConfig
from labelfix.dataset import Manifest, ReaderOptions, read_dataset
from labelfix.errors import DatasetError
from labelfix.fileio import write_text_atomic
from labelfix.images.transforms import eval_transform, train_transform
from labelfix.models.backbones import load_backbone, sized_data_config
from labelfix.models.infer import default_workers
from labelfix.progress import NoProgress, Progress
from labelfix.runs import library_versions, run_folder
from labelfix.seeding import seed_everything
from labelfix.training import distributed
from labelfix.training.callbacks import (
    BestCheckpoint,
    MetricsFile,
    ProgressBars,
    TensorBoard,
    WeightAverage,
    tensorboard_available,
)
from labelfix.training.checkpoint import Checkpoint, load_checkpoint
from labelfix.training.data import LabeledImages, eval_loader, train_loader
from labelfix.training.distributed import Context
from labelfix.training.evaluate import evaluation_summary, plot_confusion_matrix, plot_curves, predict_probabilities
from labelfix.training.loop import Callback, Trainer, loss_functions
from labelfix.training.lr_finder import LrSweep, find_lr, plot_lr_sweep
from labelfix.training.splits import SPLIT_FILE, VAL, assign_splits, read_split_file, split_csv, training_mask

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
class TrainingSet:
    """A dataset read and split: which images train and which validate."""

    manifest: Manifest
    splits: np.ndarray  # (N,) train / val / unused
    trained: np.ndarray  # (N,) bool: train split, within the subset

    def paths(self, mask: np.ndarray) -> list[Path]:
        return [path for path, chosen in zip(self.manifest.paths, mask) if chosen]

    def labels(self, mask: np.ndarray) -> np.ndarray:
        return self.manifest.label_indices()[mask]

    @property
    def validating(self) -> np.ndarray:
        return self.splits == VAL


@dataclass
class Network:
    """A timm classifier with a new head for the dataset's classes, and its preprocessing."""

    module: nn.Module
    architecture: str
    data_config: dict


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    evaluation: dict
    record: dict = field(default_factory=dict)


def read_training_set(path: str | Path, config: TrainConfig) -> TrainingSet:
    """Read the dataset and split it (saved split first, then the dataset's own, then a seeded stratified one)."""
    manifest = read_dataset(path, ReaderOptions(**config.dataset.model_dump()))
    manifest.label_indices()  # single-label only
    saved = read_split_file(config.data.split_file) if config.data.split_file else None
    splits = assign_splits(manifest, val_fraction=config.data.val_fraction, seed=config.seed, saved=saved)
    trained = training_mask(manifest, splits, config.data.subset_fraction, config.seed)
    if not trained.any():
        raise DatasetError(f"{path}: no training images after splitting; check the split folders or --split-file")
    return TrainingSet(manifest=manifest, splits=splits, trained=trained)


def build_network(config: TrainConfig, n_classes: int) -> Network:
    """The backbone (embedded lite0, a timm name or local weights) with a new, seeded head of `n_classes` outputs."""
    backbone = load_backbone(config.model.name, config.model.weights)
    torch.manual_seed(config.seed)
    backbone.model.reset_classifier(n_classes)
    return Network(module=backbone.model, architecture=backbone.architecture,
                   data_config=sized_data_config(backbone.data_config, config.model.image_size))


def worker_count(config: TrainConfig) -> int:
    return default_workers() if config.data.workers is None else config.data.workers


def batches_for_training(data: TrainingSet, network: Network, config: TrainConfig, context: Context):
    """Train and validation loaders (validation None when there are no validation images)."""
    mixing = config.regularization.mixup > 0 or config.regularization.cutmix > 0
    train_set = LabeledImages(data.paths(data.trained), data.labels(data.trained),
                              train_transform(network.data_config, config.augment))
    train_batches = train_loader(train_set, batch_size=config.data.batch_size, workers=worker_count(config), seed=config.seed,
                                 context=context, balance=config.data.balance, drop_last=mixing)
    val_batches = None
    if data.validating.any():
        val_set = LabeledImages(data.paths(data.validating), data.labels(data.validating), eval_transform(network.data_config))
        val_batches = eval_loader(val_set, batch_size=config.data.batch_size, workers=worker_count(config), context=context)
    return train_batches, val_batches


def sweep_learning_rate(network: Network, train_batches, config: TrainConfig, context: Context, steps: int = 100) -> LrSweep:
    """The lr finder on the first phase's setup (frozen backbone when there are frozen epochs)."""
    loss_function, _ = loss_functions(config, network.module.num_classes)
    steps = min(steps, max(len(train_batches) * 3, 20))
    return find_lr(network.module, train_batches, loss_function, config.optimizer, device=context.device,
                   frozen=config.schedule.freeze_epochs > 0, steps=steps)


def train(path: str | Path, config: TrainConfig | None = None, *, progress: Progress = NoProgress()) -> TrainResult:
    """Fine-tune a classifier on the dataset at `path` and write the run folder (on the main process)."""
    config = config or TrainConfig()
    context = distributed.start(config.device)
    try:
        return _train(path, config, context, progress)
    finally:
        distributed.stop(context)


def _train(path, config: TrainConfig, context: Context, progress: Progress) -> TrainResult:
    started = datetime.now(timezone.utc)
    seed_everything(config.seed)
    if config.deterministic:
        make_deterministic()
    data = read_training_set(path, config)
    run_dir = run_folder(config.out, data.manifest, f"train-{data.manifest.name}")
    classes = list(data.manifest.classes)
    network = build_network(config, len(classes))
    train_batches, val_batches = batches_for_training(data, network, config, context)
    lr, sweep = config.schedule.lr, None
    if lr is None:
        sweep = sweep_learning_rate(network, train_batches, config, context)
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
            plot_lr_sweep(sweep, run_dir / "lr_find.png")
        best = BestCheckpoint(run_dir / "checkpoint.pt", architecture=network.architecture, classes=classes,
                              data_config=network.data_config, config=config_dump)
        callbacks += [ProgressBars(progress), metrics_file, best]
        callbacks += _tensorboard(config, run_dir)
    trainer = Trainer(network.module, train_batches, val_batches, resolved, lr, context=context, callbacks=callbacks)
    trainer.fit()
    distributed.barrier(context)
    evaluation: dict = {}
    if context.is_main:
        plot_curves(metrics_file.rows, run_dir / "curves.png")
        if data.validating.any():
            evaluation = evaluate_checkpoint(load_checkpoint(run_dir / "checkpoint.pt", context.device),
                                             data.paths(data.validating),
                                             data.labels(data.validating), run_dir, tta=config.evaluation.tta,
                                             batch_size=config.data.batch_size, workers=worker_count(config),
                                             device=context.device, progress=progress)
        record = run_record(resolved, data, context, started, metrics_file.seconds, sweep)
        write_text_atomic(run_dir / "run.json", json.dumps(record, indent=2, default=str) + "\n")
        return TrainResult(run_dir=run_dir, metrics=metrics_file.rows, evaluation=evaluation, record=record)
    return TrainResult(run_dir=run_dir, metrics=[], evaluation={})


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


def evaluate_dataset(checkpoint_path: Path, path: str | Path, out_dir: Path | None, *, split: str | None = None,
                     dataset_format: str = "auto", **options) -> dict:
    """Evaluate a checkpoint on a labelled dataset (any layout scan reads), or on one of its splits."""
    manifest = read_dataset(path, ReaderOptions(format=dataset_format))
    chosen = [i for i, item in enumerate(manifest.items) if split is None or item.split == split]
    if not chosen:
        raise DatasetError(f"{path}: no images in split '{split}'")
    checkpoint = load_checkpoint(checkpoint_path, options.get("device") or "cpu")
    unknown = sorted({manifest.items[i].label for i in chosen} - set(checkpoint.classes))
    if unknown:
        raise DatasetError(f"{path}: labels the checkpoint does not know: {', '.join(unknown[:5])}; "
                           f"it knows {', '.join(checkpoint.classes)}")
    labels = np.array([checkpoint.classes.index(manifest.items[i].label) for i in chosen])
    return evaluate_checkpoint(checkpoint, [manifest.paths[i] for i in chosen], labels, out_dir, **options)


def evaluate_checkpoint(checkpoint: Checkpoint, paths: list[Path], labels: np.ndarray, out_dir: Path | None, *,
                        tta: bool = False, batch_size: int = 32, workers: int = 0, device: torch.device | None = None,
                        progress: Progress = NoProgress()) -> dict:
    """Evaluate a checkpoint on labelled images; writes evaluation.json and confusion_matrix.png into `out_dir`."""
    device = device or torch.device("cpu")
    images = LabeledImages(paths, labels, eval_transform(checkpoint.data_config))
    batches = eval_loader(images, batch_size=batch_size, workers=workers)
    with progress.task("evaluate", len(batches)) as advance:
        probabilities, seen = predict_probabilities(checkpoint.network, batches, device, tta=tta, progress_advance=advance)
    summary = {"checkpoint_epoch": checkpoint.metrics.get("epoch"), "tta": tta,
               **evaluation_summary(seen, probabilities, checkpoint.classes)}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "evaluation.json", json.dumps(summary, indent=2) + "\n")
        plot_confusion_matrix(np.array(summary["confusion_matrix"]), checkpoint.classes, out_dir / "confusion_matrix.png")
    return summary


def run_record(config: TrainConfig, data: TrainingSet, context: Context, started, epoch_seconds, sweep) -> dict:
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


def lr_find(path: str | Path, config: TrainConfig, plot_path: Path, *, steps: int = 100) -> LrSweep:
    """Run the lr finder on the dataset's training images and plot the sweep to `plot_path`."""
    context = Context(device=distributed.resolve_device(config.device))
    seed_everything(config.seed)
    data = read_training_set(path, config)
    network = build_network(config, len(data.manifest.classes))
    train_batches, _ = batches_for_training(data, network, config, context)
    sweep = sweep_learning_rate(network, train_batches, config, context, steps=steps)
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_lr_sweep(sweep, plot_path)
    return sweep
