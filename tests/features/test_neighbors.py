"""Nearest neighbours: self excluded, exact below the limit, approximate (HNSW on principal components, exact
re-ranking) above it."""

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


def test_the_approximate_search_finds_most_true_neighbours_and_reports_exact_distances(monkeypatch):
    rng = np.random.default_rng(0)
    latent = rng.normal(0, 1, (3000, 8)) + 3 * rng.integers(0, 2, (3000, 8))
    points = 1.0 + latent @ rng.normal(0, 1, (8, 64)) + 0.1 * rng.normal(0, 1, (3000, 64))
    points[7] = points[11] + 1e-4  # a near duplicate is found whatever the approximation
    exact = nearest_neighbors(points, k=5)
    monkeypatch.setattr(neighbors_module, "EXACT_SEARCH_LIMIT", 100)
    monkeypatch.setattr(neighbors_module, "REDUCED_DIM", 16)
    approximate = nearest_neighbors(points, k=5)
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approximate.indices, exact.indices)])
    assert recall > 0.9
    assert approximate.indices[7, 0] == 11 and approximate.distances[7, 0] < 1e-5
    assert (approximate.indices != np.arange(3000)[:, None]).all() and (approximate.indices >= 0).all()
    unit = points - points.mean(axis=0)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    pairs = 1 - np.einsum("nd,nkd->nk", unit, unit[approximate.indices])
    np.testing.assert_allclose(approximate.distances, np.clip(pairs, 0, 2), atol=1e-4)
    assert (np.diff(approximate.distances, axis=1) >= -1e-6).all()


def test_the_torch_search_finds_what_faiss_finds():
    """The exact search a CUDA device runs (here on the CPU): the same neighbours and distances."""
    import torch

    points = _clusters()
    unit = neighbors_module.normalize(points - points.mean(axis=0))
    found = neighbors_module._drop_self(*_indices_and_distances(neighbors_module.search_torch(unit, 4, torch.device("cpu"))), 3)
    expected = neighbors_module._drop_self(*_indices_and_distances(neighbors_module._search_faiss(unit, 4)), 3)
    assert (found.indices == expected.indices).all()
    np.testing.assert_allclose(found.distances, expected.distances, atol=1e-5)


def _indices_and_distances(search):
    similarities, indices = search
    return indices, 1 - similarities
