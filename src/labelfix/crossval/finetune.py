"""Out-of-fold probabilities from fine-tuning: one network per fold, trained on the other folds with the
training recipe (a fixed lr instead of the lr finder), predicting the held-out fold."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelfix.config import ScanConfig, ScheduleConfig, TrainConfig, TrainDataConfig, TrainModelConfig
from labelfix.crossval.probabilities import FLOOR, normalized
from labelfix.devices import resolve_device
from labelfix.progress import NoProgress, Progress
from labelfix.seeding import seeded_globals
from labelfix.training.callbacks import ProgressBars
from labelfix.training.data import (
    eval_loader,
    evaluation_images,
    train_loader,
    training_batch_size,
    training_images,
    worker_count,
)
from labelfix.training.distributed import Context
from labelfix.training.loop import Trainer
from labelfix.training.network import build_network
from labelfix.training.predict import predict_probabilities

log = logging.getLogger(__name__)


def finetune_config(config: ScanConfig, image_size: int | None) -> TrainConfig:
    """The training recipe for the scan's folds: its backbone, seed, device; few epochs, fixed lr; batches of 32 on a
    CPU and 128 on CUDA (or the scan's batch size, when smaller)."""
    embedding = config.embedding
    batch_size = training_batch_size(resolve_device(embedding.device))
    return TrainConfig(
        seed=config.seed,
        model=TrainModelConfig(name=embedding.model, weights=embedding.weights, image_size=image_size),
        data=TrainDataConfig(batch_size=min(embedding.batch_size or batch_size, batch_size), workers=embedding.workers),
        schedule=ScheduleConfig(epochs=config.crossval.finetune_epochs, freeze_epochs=1, lr=config.crossval.finetune_lr),
        device=embedding.device,
    )


def finetuned_out_of_fold_probabilities(paths: Sequence[Path], labels: np.ndarray, folds: np.ndarray, n_classes: int,
                                        config: TrainConfig, *, context: Context | None = None,
                                        progress: Progress = NoProgress()) -> np.ndarray:
    """Probabilities (N, K) for each image from a network fine-tuned on the other folds; rows sum to 1. Label sets
    (`labels` (N, K) 0/1) train with binary cross-entropy and get each class's sigmoid.

    An image that cannot be decoded gets uniform probabilities (label sets: 0.5).
    """
    context = context or Context()
    paths = list(paths)
    multilabel = labels.ndim == 2
    labels = labels.astype(np.float32) if multilabel else labels
    probabilities = np.full((len(paths), n_classes), 0.5 if multilabel else 1.0 / n_classes)
    for fold in np.unique(folds):
        held_out = np.flatnonzero(folds == fold)
        training = np.flatnonzero(folds != fold)
        log.info("fine-tuning fold %d on %d images", fold, len(training))
        network = build_network(config.model, n_classes, config.seed + int(fold))
        train_set = training_images([paths[i] for i in training], labels[training], network.data_config, config.augment)
        batch_size = min(config.data.batch_size, max(8, len(training) // 8))  # small folds still get ~8 steps an epoch
        batches = train_loader(train_set, batch_size=batch_size, workers=worker_count(config),
                               seed=config.seed + int(fold), context=context)
        with seeded_globals(config.seed + int(fold)):
            Trainer(network.module, batches, None, config, lr=config.schedule.lr, context=context,
                    callbacks=[ProgressBars(progress)], multilabel=multilabel).fit()
        positions = evaluation_images([paths[i] for i in held_out], np.arange(len(held_out)), network.data_config)
        fold_probabilities, readable = predict_probabilities(
            network.module, eval_loader(positions, batch_size=config.data.batch_size, workers=worker_count(config)),
            context.device, multilabel=multilabel)
        probabilities[held_out[readable]] = fold_probabilities
    return np.clip(probabilities, FLOOR, 1 - FLOOR) if multilabel else normalized(probabilities)
