"""Which fold each image is held out in: a seeded, stratified k-fold split."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold

from labelfix.errors import DatasetError

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
