"""Stratified k-fold cross-validation of a linear head on embeddings: out-of-fold probabilities."""

from __future__ import annotations

import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer
from threadpoolctl import threadpool_limits

from labelfix.errors import DatasetError
from labelfix.progress import NoProgress, Progress

log = logging.getLogger(__name__)


def assign_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (N,) from a seeded stratified split. Fewer folds when every class is smaller than `n_folds`."""
    counts = np.bincount(labels)
    counts = counts[counts > 0]
    folds_possible = min(n_folds, int(counts.max()))
    if folds_possible < 2:
        raise DatasetError("every class has a single image; cross-validation needs at least two images in some class")
    if folds_possible < n_folds:
        log.warning("using %d folds instead of %d: no class has %d images", folds_possible, n_folds, n_folds)
    splitter = StratifiedKFold(n_splits=folds_possible, shuffle=True, random_state=seed)
    folds = np.empty(len(labels), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            folds[held_out] = fold
    return folds


def small_classes(labels: np.ndarray, n_folds: int) -> dict[int, int]:
    """Classes with fewer images than folds (class index -> count): their predictions are less reliable."""
    counts = np.bincount(labels)
    return {k: int(c) for k, c in enumerate(counts) if 0 < c < n_folds}


class MLPHead:
    """A one-hidden-layer network on standardised unit-length embeddings (torch, CPU), sklearn-style.

    AdamW, one-cycle schedule, dropout and label smoothing; at least `min_steps` optimizer steps so small
    datasets are trained too. Seeded without touching torch's global random state.
    """

    def __init__(self, *, hidden: int = 1024, epochs: int = 8, min_steps: int = 300, batch_size: int = 256,
                 learning_rate: float = 1e-3, weight_decay: float = 0.05, dropout: float = 0.5, seed: int = 0) -> None:
        self.hidden, self.epochs, self.min_steps, self.batch_size = hidden, epochs, min_steps, batch_size
        self.learning_rate, self.weight_decay, self.dropout, self.seed = learning_rate, weight_decay, dropout, seed

    @staticmethod
    def _unit(features: np.ndarray):
        import torch

        return torch.as_tensor(features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12),
                               dtype=torch.float32)

    def _inputs(self, features: np.ndarray):
        return (self._unit(features) - self.mean_) / self.scale_

    def fit(self, features: np.ndarray, labels: np.ndarray) -> MLPHead:
        import torch

        self.classes_, targets = np.unique(labels, return_inverse=True)
        unit = self._unit(features)
        self.mean_, self.scale_ = unit.mean(0), unit.std(0) + 1e-6
        inputs, targets = (unit - self.mean_) / self.scale_, torch.as_tensor(targets)
        batches = -(-len(targets) // self.batch_size)
        steps = max(self.epochs * batches, self.min_steps)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self.network_ = torch.nn.Sequential(
                torch.nn.Linear(inputs.shape[1], self.hidden), torch.nn.GELU(), torch.nn.Dropout(self.dropout),
                torch.nn.Linear(self.hidden, len(self.classes_)),
            )
            optimizer = torch.optim.AdamW(self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.learning_rate, total_steps=steps)
            loss_function = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
            for step in range(steps):
                if step % batches == 0:
                    order = torch.randperm(len(targets))
                batch = order[(step % batches) * self.batch_size:][: self.batch_size]
                optimizer.zero_grad()
                loss_function(self.network_(inputs[batch]), targets[batch]).backward()
                optimizer.step()
                schedule.step()
        self.network_.eval()
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.network_(self._inputs(features)).softmax(dim=1).numpy().astype(np.float64)


HEADS = ("logistic", "mlp")


def make_head(kind: str = "logistic", regularization: float = 10.0, seed: int = 0):
    """The classifier fitted on each fold: `logistic` (see `logistic_head`) or `mlp` (`MLPHead`)."""
    return MLPHead(seed=seed) if kind == "mlp" else logistic_head(regularization, seed)


def logistic_head(regularization: float = 10.0, seed: int = 0) -> Pipeline:
    """Unit-length embeddings, then multinomial logistic regression (inverse L2 strength `regularization`).

    Measured: L2-normalised inputs beat standardised ones (digits example AUROC 0.999 vs 0.99); C = 10 is
    within 0.001 of the best AUROC on both the digits example (best C = 30) and CIFAR-10N (best C = 3).
    """
    return make_pipeline(
        Normalizer(),
        # tol 1e-3 instead of 1e-4: the same AUROC on 10k CIFAR-10N images (0.9039) in 17 s instead of 44 s
        LogisticRegression(C=regularization, tol=1e-3, max_iter=3000, random_state=seed),
    )


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    *,
    head: str = "logistic",
    regularization: float = 10.0,
    seed: int = 0,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """Probabilities (N, K) for each image from a head trained on the other folds; rows sum to 1.

    Logistic heads are fitted one fold per CPU core, each with a single BLAS thread: on 5,000 CIFAR-10N
    embeddings the 5 folds take 1.3 s that way, 2.3 s one after another, 6.4 s with BLAS threads (2 cores).
    """
    probabilities = np.zeros((len(labels), n_classes), dtype=np.float64)
    fold_ids = np.unique(folds)

    def fit_fold(fold: int):
        held_out = folds == fold
        return held_out, make_head(head, regularization, seed).fit(features[~held_out], labels[~held_out])

    parallel = head == "logistic" and (os.cpu_count() or 1) > 1
    with progress.task("cross-validate", len(fold_ids)) as advance, ExitStack() as stack:
        if parallel:
            stack.enter_context(threadpool_limits(1))
            fitted = stack.enter_context(ThreadPoolExecutor(min(len(fold_ids), os.cpu_count()))).map(fit_fold, fold_ids)
        else:
            fitted = map(fit_fold, fold_ids)
        for held_out, model in fitted:
            columns = model.classes_  # a class absent from the training folds gets probability 0
            probabilities[np.ix_(held_out, columns)] = model.predict_proba(features[held_out])
            advance(1)
    probabilities = np.clip(probabilities, 1e-6, None)
    return probabilities / probabilities.sum(axis=1, keepdims=True)
