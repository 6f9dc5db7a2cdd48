"""Out-of-fold probabilities for label sets (multi-label): one independent probability per class.

Folds come from iterative stratification (Sechidis et al., 2011; the `iterative-stratification` package), which
deals out the rarest classes first so that every class lands in every fold. Each fold fits one binary logistic
regression per class (one-vs-rest) on the other folds' unit-length embeddings; the neighbours' vote becomes each
class's share among an image's nearest neighbours.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from labelfix.crossval.heads import logistic_head
from labelfix.crossval.probabilities import FLOOR
from labelfix.errors import DatasetError
from labelfix.features.neighbors import Neighbors
from labelfix.progress import NoProgress, Progress

log = logging.getLogger(__name__)


def multilabel_folds(matrix: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (N,) for a (N, K) 0/1 label matrix, by seeded iterative stratification."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    n_folds = min(n_folds, len(matrix))
    if n_folds < 2:
        raise DatasetError("cross-validation needs at least two readable images")
    splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.empty(len(matrix), dtype=np.int64)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(matrix)), matrix)):
        folds[held_out] = fold
    return folds


def multilabel_out_of_fold_probabilities(
    features: np.ndarray,
    matrix: np.ndarray,
    folds: np.ndarray,
    *,
    regularization: float = 10.0,
    seed: int = 0,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """(N, K) probability that each image shows each class, from per-class logistic heads fitted on the other
    folds (folds in parallel, one thread each, as for single-label). A class that is always (or never) given in
    the training folds gets that constant, floored away from 0 and 1."""
    probabilities = np.zeros(matrix.shape, dtype=np.float64)
    fold_ids = np.unique(folds)

    def fit_fold(fold: int) -> tuple[np.ndarray, np.ndarray]:
        held_out = folds == fold
        fold_probabilities = np.empty((held_out.sum(), matrix.shape[1]))
        for k in range(matrix.shape[1]):
            given = matrix[~held_out, k]
            if given.min() == given.max():
                fold_probabilities[:, k] = given[0]
            else:
                head = logistic_head(regularization, seed).fit(features[~held_out], given)
                fold_probabilities[:, k] = head.predict_proba(features[held_out])[:, 1]
        return held_out, fold_probabilities

    workers = min(len(fold_ids), os.cpu_count() or 1)
    with (progress.task("cross-validate", len(fold_ids)) as advance, threadpool_limits(1),
          ThreadPoolExecutor(workers) as pool):
        for held_out, fold_probabilities in pool.map(fit_fold, fold_ids):
            probabilities[held_out] = fold_probabilities
            advance(1)
    return np.clip(probabilities, FLOOR, 1 - FLOOR)


def neighbor_label_share(neighbors: Neighbors, matrix: np.ndarray, temperature: float = 0.07) -> np.ndarray:
    """(N, K) weighted share of each image's neighbours given each class (its own labels are not among them),
    weighted by exp(similarity / temperature) as the single-label vote is."""
    weights = np.exp((1.0 - neighbors.distances) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nj,njk->nk", weights, matrix[neighbors.indices].astype(np.float64))


def set_agreement(probabilities: np.ndarray, matrix: np.ndarray) -> float:
    """Micro-averaged F1 of the per-class presence (probability ≥ 0.5) against the given label sets: what the
    out-of-fold accuracy is for single labels (with one label per image and one class predicted, it is that
    accuracy), and unlike the entries' accuracy not near 1 when most classes are absent from most images."""
    return float(f1_score(matrix.astype(bool), probabilities >= 0.5, average="micro", zero_division=1.0))


def presence_accuracy(probabilities: np.ndarray, matrix: np.ndarray) -> float:
    """Share of (image, class) entries where probability ≥ 0.5 agrees with the given label set."""
    return float(((probabilities >= 0.5) == matrix.astype(bool)).mean()) if matrix.size else 0.0
