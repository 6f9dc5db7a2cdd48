"""Exact and near duplicates as groups; groups with conflicting labels or spanning splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from labelfix.features.neighbors import Neighbors


def _singletons_to_minus_one(group: np.ndarray) -> np.ndarray:
    sizes = np.bincount(group)
    return np.where(sizes[group] > 1, group, -1)


def exact_duplicate_groups(pixel_hashes: Sequence[str]) -> np.ndarray:
    """Group id (N,) shared by images with identical pixels; -1 for unique images."""
    _, group = np.unique(np.asarray(pixel_hashes, dtype=object).astype(str), return_inverse=True)
    return _singletons_to_minus_one(group.ravel())


def near_duplicate_groups(neighbors: Neighbors, threshold: float) -> np.ndarray:
    """Group id (N,) of images that are all closer than `threshold` to each other, -1 when alone.

    Complete linkage over the close pairs, closest first: two groups join only when every pair across them is
    close, so a chain of similar images (a 0 like a 6 like a 6 ...) does not become one group of hundreds.
    """
    n, k = neighbors.indices.shape
    close = (neighbors.distances < threshold).ravel()
    rows, columns = np.repeat(np.arange(n), k)[close], neighbors.indices.ravel()[close]
    distances = neighbors.distances.ravel()[close]
    other = rows != columns
    first, second, distances = np.minimum(rows, columns)[other], np.maximum(rows, columns)[other], distances[other]
    close_to: dict[int, set[int]] = defaultdict(set)
    for a, b in zip(first.tolist(), second.tolist()):
        close_to[a].add(b)
        close_to[b].add(a)
    group = np.arange(n)
    members: dict[int, list[int]] = {}
    for i in np.argsort(distances, kind="stable"):
        joining, joined = group[first[i]], group[second[i]]
        if joining == joined:
            continue
        left, right = members.get(joining, [joining]), members.get(joined, [joined])
        if all(b in close_to[a] for a in left for b in right):
            group[right] = joining
            members[joining] = left + right
            members.pop(joined, None)
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
