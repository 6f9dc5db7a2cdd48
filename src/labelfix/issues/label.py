"""Label issues by confident learning (cleanlab) on out-of-fold probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cleanlab.count import estimate_joint
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores


@dataclass
class LabelIssues:
    """Per-image results, all shape (N,)."""

    is_label_issue: np.ndarray  # bool
    label_score: np.ndarray  # label quality in [0, 1], lower is worse
    suggested_label: np.ndarray  # class index: the model's best guess (another class when flagged)
    given_probability: np.ndarray
    suggested_probability: np.ndarray


def find_label_problems(labels: np.ndarray, pred_probs: np.ndarray, *, filter_by: str = "prune_by_class") -> LabelIssues:
    """cleanlab's `find_label_issues` and `get_label_quality_scores` for labels (N,) and pred_probs (N, K)."""
    flagged = find_label_issues(labels, pred_probs, filter_by=filter_by, n_jobs=1)
    scores = get_label_quality_scores(labels, pred_probs, method="self_confidence")
    others = pred_probs.copy()
    others[np.arange(len(labels)), labels] = -1.0
    suggested = np.where(flagged, others.argmax(axis=1), pred_probs.argmax(axis=1))
    rows = np.arange(len(labels))
    return LabelIssues(
        is_label_issue=np.asarray(flagged, dtype=bool),
        label_score=np.asarray(scores, dtype=np.float64),
        suggested_label=suggested,
        given_probability=pred_probs[rows, labels],
        suggested_probability=pred_probs[rows, suggested],
    )


def estimated_noise_rates(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Estimated share of wrong labels among images given each class, shape (K,) (cleanlab's joint)."""
    joint = estimate_joint(labels, pred_probs)  # rows: given label, columns: true label
    given_totals = joint.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = 1.0 - np.diag(joint) / given_totals
    return np.nan_to_num(rates)


def noise_matrix(labels: np.ndarray, suggested: np.ndarray, flagged: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (K, K) of flagged images by (given, suggested) class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels[flagged], suggested[flagged]), 1)
    return matrix
