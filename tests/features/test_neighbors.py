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


def test_the_exact_search_finds_what_a_whole_search_finds(monkeypatch):
    """Half the similarity matrix in blocks (here of 7 rows, the last one short): the neighbours and similarities of
    faiss's search over the whole matrix, each pair's similarity the same both ways."""
    import faiss
    import torch

    monkeypatch.setattr(neighbors_module, "CPU_BLOCK", 7)
    points = np.random.default_rng(0).normal(0, 1, (64, 16))  # 10 blocks; no exact copies, whose order is a tie
    unit = neighbors_module.normalize(points - points.mean(axis=0))
    similarities, indices = neighbors_module.exact_search(unit, 5, torch.device("cpu"))
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    expected_similarities, expected_indices = index.search(unit, 5)
    found = neighbors_module._drop_self(indices, 1 - similarities, 4)
    expected = neighbors_module._drop_self(expected_indices.astype(np.int64), 1 - expected_similarities, 4)
    assert (found.indices == expected.indices).all()
    np.testing.assert_allclose(found.distances, expected.distances, atol=1e-5)
    assert (np.diff(similarities, axis=1) <= 0).all()
    for row, (others, values) in enumerate(zip(indices, similarities)):
        for other, value in zip(others, values):
            if row in indices[other]:
                assert similarities[other, list(indices[other]).index(row)] == value


def _indices_and_distances(search):
    similarities, indices = search
    return indices, 1 - similarities
