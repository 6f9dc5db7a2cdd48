"""Label sets in training, evaluation and prediction: per-class decision thresholds and multi-label metrics
(pure functions over (N, K) 0/1 truths and probabilities)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

DEFAULT_THRESHOLD = 0.5


def choose_thresholds(truth: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """(K,) per class, the probability threshold with the best F1 on these (validation) images; 0.5 for a class
    without positives or without images."""
    thresholds = np.full(truth.shape[1], DEFAULT_THRESHOLD)
    for k in range(truth.shape[1]):
        positives = truth[:, k] == 1
        if not positives.any():
            continue
        order = np.argsort(-probabilities[:, k], kind="stable")
        hits = np.cumsum(positives[order])  # true positives when the top i+1 are called present
        f1 = 2 * hits / (np.arange(1, len(order) + 1) + positives.sum())
        best = int(np.argmax(f1))
        thresholds[k] = float(probabilities[order[best], k])
    return thresholds


def multilabel_summary(truth: np.ndarray, probabilities: np.ndarray, classes: list[str],
                       thresholds: np.ndarray) -> dict:
    """mAP, micro and macro F1 at the thresholds, exact-set accuracy, and per class precision / recall / F1 / AP /
    support / threshold."""
    predicted = (probabilities >= thresholds).astype(int)
    truth = truth.astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    present = truth.sum(axis=0) > 0
    ap = [float(average_precision_score(truth[:, k], probabilities[:, k])) if present[k] else None
          for k in range(len(classes))]
    micro = precision_recall_fscore_support(truth, predicted, average="micro", zero_division=0)
    return {
        "images": int(len(truth)),
        "map": float(np.mean([a for a in ap if a is not None])) if present.any() else 0.0,
        "micro_f1": float(micro[2]), "micro_precision": float(micro[0]), "micro_recall": float(micro[1]),
        "macro_f1": float(np.mean(f1[present])) if present.any() else 0.0,
        "exact_set_accuracy": float((predicted == truth).all(axis=1).mean()) if len(truth) else 0.0,
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "ap": a, "support": int(s),
                   "threshold": float(t)}
            for name, p, r, f, a, s, t in zip(classes, precision, recall, f1, ap, support, thresholds)
        },
    }


def labels_over_threshold(probabilities: np.ndarray, classes: list[str],
                          thresholds: np.ndarray) -> list[list[tuple[str, float]]]:
    """Per image, the classes at or over their threshold with their probabilities, most probable first."""
    rows = []
    for row in probabilities:
        chosen = np.flatnonzero(row >= thresholds)
        rows.append([(classes[k], float(row[k])) for k in chosen[np.argsort(-row[chosen], kind="stable")]])
    return rows


def member_thresholds(members) -> np.ndarray:
    """(K,) the thresholds of one multi-label checkpoint, or the mean of an ensemble's (0.5 where none were chosen)."""
    return np.mean([m.thresholds if m.thresholds else [DEFAULT_THRESHOLD] * len(m.classes) for m in members], axis=0)
