"""Outliers: images unlike the rest of the dataset.

Two kinds of evidence, each as a robust z-score over the dataset: the mean distance to the k nearest
images (a lone odd image), and the entropy of the backbone's own ImageNet prediction (images of nothing the
backbone knows: charts, drawings, placeholders; these often come as a group, which hides them from kNN).
"""

from __future__ import annotations

import numpy as np

from labelfix.features.neighbors import Neighbors


def robust_z(values: np.ndarray) -> np.ndarray:
    """(value - median) / (1.4826 × median absolute deviation); NaN stays NaN."""
    median = np.nanmedian(values)
    spread = 1.4826 * np.nanmedian(np.abs(values - median))
    return (values - median) / max(float(spread), 1e-9)


def outlier_scores(
    neighbors: Neighbors, prediction_entropy: np.ndarray | None, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is_issue, score, z) per image: z is the larger of the two robust z-scores; flagged when z > threshold.

    score = 1 / (1 + exp(z - threshold)) in [0, 1], below 0.5 exactly when flagged.
    """
    z = robust_z(neighbors.distances.mean(axis=1))
    if prediction_entropy is not None and np.isfinite(prediction_entropy).any():
        z = np.fmax(z, robust_z(prediction_entropy))
    score = 1.0 / (1.0 + np.exp(np.clip(z - threshold, -50, 50)))
    return z > threshold, score, z
