"""Exact and near duplicates as groups; groups with conflicting labels or spanning splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from labelfix.features.neighbors import Neighbors


def _singletons_to_minus_one(group: np.ndarray) -> np.ndarray:
    sizes = np.bincount(group)
    return np.where(sizes[group] > 1, group, -1)


def exact_duplicate_groups(pixel_hashes: Sequence[str]) -> np.ndarray:
    """Group id (N,) shared by images with identical pixels; -1 for unique images."""
    _, group = np.unique(np.asarray(pixel_hashes, dtype=object).astype(str), return_inverse=True)
    return _singletons_to_minus_one(group.ravel())


def near_duplicate_groups(neighbors: Neighbors, threshold: float) -> np.ndarray:
    """Group id (N,): connected components of the graph of pairs closer than `threshold`; -1 when alone."""
    n = len(neighbors.indices)
    close = neighbors.distances < threshold
    rows = np.repeat(np.arange(n), neighbors.indices.shape[1])[close.ravel()]
    graph = coo_matrix((np.ones(len(rows)), (rows, neighbors.indices.ravel()[close.ravel()])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    return _singletons_to_minus_one(group)


def near_duplicate_score(neighbors: Neighbors, threshold: float) -> np.ndarray:
    """Distance to the nearest other image / (2 × threshold), capped at 1: below 0.5 means a near duplicate."""
    return np.clip(neighbors.distances[:, 0] / (2 * threshold), 0.0, 1.0)


def close_pairs_that_differ(neighbors: Neighbors, threshold: float, values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """Images with a near duplicate (closer than `threshold`) whose value differs: labels give a conflict,
    splits give leakage. Pairs, not whole groups: a chain of similar images is not one conflict.

    Returns flags (N,) bool for both images of every such pair, and a score (N,) = the closest such pair's
    distance / (2 × threshold), 1 where there is none.
    """
    values = np.asarray(values, dtype=object).astype(str)
    n, k = neighbors.indices.shape
    rows = np.repeat(np.arange(n), k)
    columns = neighbors.indices.ravel()
    distances = neighbors.distances.ravel()
    differ = (distances < threshold) & (values[rows] != values[columns])
    score = np.ones(n)
    for side in (rows[differ], columns[differ]):
        np.minimum.at(score, side, np.clip(distances[differ] / (2 * threshold), 0.0, 1.0))
    flags = np.zeros(n, dtype=bool)
    flags[rows[differ]] = flags[columns[differ]] = True
    return flags, score
