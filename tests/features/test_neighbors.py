"""Nearest neighbours: self excluded, exact below the limit, HNSW above it."""

import numpy as np

from labelfix.features import neighbors as neighbors_module
from labelfix.features.neighbors import nearest_neighbors


def _clusters(seed=0):
    """30 spread-out points, a near-duplicate pair (0, 30) and an exact pair (1, 31)."""
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 1, (30, 16))
    return np.vstack([points, points[0] + rng.normal(0, 0.01, 16), points[1]])


def test_neighbors_exclude_self_even_with_exact_copies():
    neighbors = nearest_neighbors(_clusters(), k=3)
    assert neighbors.indices.shape == (32, 3)
    assert (neighbors.indices != np.arange(32)[:, None]).all()
    assert neighbors.indices[31, 0] == 1 and neighbors.distances[31, 0] < 1e-5
    assert neighbors.indices[0, 0] == 30
    assert (np.diff(neighbors.distances, axis=1) >= -1e-6).all()


def test_large_datasets_use_the_approximate_index(monkeypatch):
    monkeypatch.setattr(neighbors_module, "EXACT_SEARCH_LIMIT", 10)
    approximate = nearest_neighbors(_clusters(), k=3)
    monkeypatch.setattr(neighbors_module, "EXACT_SEARCH_LIMIT", 10**9)
    exact = nearest_neighbors(_clusters(), k=3)
    assert (approximate.indices[:, 0] == exact.indices[:, 0]).mean() > 0.9
    np.testing.assert_allclose(approximate.distances[:, 0], exact.distances[:, 0], atol=1e-4)
