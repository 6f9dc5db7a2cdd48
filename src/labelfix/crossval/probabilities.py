"""Probability matrices (N, K) as cleanlab takes them, and blends of two of them."""

from __future__ import annotations

import numpy as np

FLOOR = 1e-6  # no probability is exactly 0: cleanlab's scores take logs and ratios of them


def normalized(probabilities: np.ndarray) -> np.ndarray:
    """(N, K) with every entry at least FLOOR and every row summing to 1."""
    clipped = np.clip(probabilities, FLOOR, None)
    return clipped / clipped.sum(axis=1, keepdims=True)


def blend(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x first + weight x second, for two (N, K) probability matrices; rows still sum to 1."""
    if not 0 <= weight <= 1:
        raise ValueError(f"blend weight {weight} is not in [0, 1]")
    return (1 - weight) * first + weight * second


def agreement(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose most probable class is their given label (out-of-fold accuracy against labels (N,))."""
    return float((probabilities.argmax(axis=1) == labels).mean()) if len(labels) else 0.0
