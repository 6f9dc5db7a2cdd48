"""Stratified k-fold cross-validation of a linear head on embeddings: out-of-fold probabilities."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer

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


def make_head(regularization: float = 10.0, seed: int = 0) -> Pipeline:
    """Unit-length embeddings, then multinomial logistic regression (inverse L2 strength `regularization`).

    Measured: L2-normalised inputs beat standardised ones (digits example AUROC 0.999 vs 0.99); C = 10 is
    within 0.001 of the best AUROC on both the digits example (best C = 30) and CIFAR-10N (best C = 3).
    """
    return make_pipeline(
        Normalizer(),
        LogisticRegression(C=regularization, max_iter=3000, random_state=seed),
    )


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    *,
    regularization: float = 10.0,
    seed: int = 0,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """Probabilities (N, K) for each image from a head trained on the other folds; rows sum to 1."""
    probabilities = np.zeros((len(labels), n_classes), dtype=np.float64)
    fold_ids = np.unique(folds)
    with progress.task("cross-validate", len(fold_ids)) as advance:
        for fold in fold_ids:
            held_out = folds == fold
            head = make_head(regularization, seed).fit(features[~held_out], labels[~held_out])
            columns = head.classes_  # a class absent from the training folds gets probability 0
            probabilities[np.ix_(held_out, columns)] = head.predict_proba(features[held_out])
            advance(1)
    probabilities = np.clip(probabilities, 1e-6, None)
    return probabilities / probabilities.sum(axis=1, keepdims=True)
