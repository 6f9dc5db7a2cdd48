"""Out-of-fold probabilities from a head on frozen embeddings: one head per fold, fitted on the other folds."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from labelfix.crossval.heads import MinibatchLogisticHead, logistic_heads_on_device, make_head
from labelfix.crossval.probabilities import normalized
from labelfix.devices import torch_threads
from labelfix.progress import NoProgress, Progress

MINIBATCH_ABOVE = 100_000  # images; above, the logistic head is fitted with minibatches (see MinibatchLogisticHead)


def out_of_fold_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    *,
    head: str = "logistic",
    regularization: float = 10.0,
    seed: int = 0,
    device: torch.device | None = None,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """Probabilities (N, K) for each image from a head trained on the other folds; rows sum to 1.

    Folds are fitted one per CPU core, each on a single thread (BLAS and torch): on 5,000 CIFAR-10N embeddings
    the 5 logistic folds take 1.3 s that way, 2.3 s one after another, 6.4 s with BLAS threads (2 cores); a
    single thread per fold also keeps a busy machine from slowing to a crawl in contended threads. Above
    MINIBATCH_ABOVE images the logistic head is `MinibatchLogisticHead`, fed rows of `features` without copies.
    On a CUDA `device` the logistic heads of all folds are fitted there at once (`logistic_heads_on_device`).
    """
    if head == "logistic" and device is not None and device.type == "cuda":
        with progress.task("cross-validate", 1) as advance:
            probabilities = logistic_heads_on_device(features, labels, folds, n_classes, regularization, device)
            advance(1)
        return normalized(probabilities)
    probabilities = np.zeros((len(labels), n_classes), dtype=np.float64)
    fold_ids = np.unique(folds)
    minibatch = head == "logistic" and len(labels) > MINIBATCH_ABOVE

    def fit_fold(fold: int):
        held_out = folds == fold
        if minibatch:  # rows of the one matrix: no per-fold copy of a million embeddings
            return held_out, MinibatchLogisticHead(seed=seed).fit(features, labels, np.flatnonzero(~held_out))
        return held_out, make_head(head, regularization, seed).fit(features[~held_out], labels[~held_out])

    workers = min(len(fold_ids), os.cpu_count() or 1)
    with (progress.task("cross-validate", len(fold_ids)) as advance, threadpool_limits(1), torch_threads(1),
          ThreadPoolExecutor(workers) as pool):
        for held_out, model in pool.map(fit_fold, fold_ids):
            columns = model.classes_  # a class absent from the training folds gets probability 0
            held_out_probabilities = (model.predict_proba(features, np.flatnonzero(held_out)) if minibatch
                                      else model.predict_proba(features[held_out]))
            probabilities[np.ix_(held_out, columns)] = held_out_probabilities
            advance(1)
    return normalized(probabilities)
