import numpy as np

from labelfix.issues.duplicates import (
    close_pairs_that_differ,
    exact_duplicate_groups,
    near_duplicate_groups,
    near_duplicate_score,
)
from labelfix.issues.neighbors import Neighbors, nearest_neighbors, neighbor_vote
from labelfix.issues.outliers import outlier_scores, robust_z


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


def test_exact_groups_by_pixel_hash():
    assert exact_duplicate_groups(["a", "b", "a", "c", "b"]).tolist()[1] >= 0
    groups = exact_duplicate_groups(["a", "b", "a", "c"])
    assert groups[0] == groups[2] >= 0 and groups[1] == groups[3] == -1


def test_near_groups_and_conflicts_and_leakage():
    neighbors = nearest_neighbors(_clusters(), k=3)
    groups = near_duplicate_groups(neighbors, threshold=0.05)
    assert groups[0] == groups[30] >= 0 and groups[1] == groups[31] >= 0 and groups[0] != groups[1]
    assert (groups[2:30] == -1).all()
    score = near_duplicate_score(neighbors, 0.05)
    assert (score[[0, 1, 30, 31]] < 0.5).all() and (score[2:30] >= 0.5).all()
    labels = ["a"] * 32
    labels[30] = "b"
    conflicting, conflict_score = close_pairs_that_differ(neighbors, 0.05, labels)
    assert np.flatnonzero(conflicting).tolist() == [0, 30]
    assert (conflict_score[[0, 30]] < 0.5).all() and (np.delete(conflict_score, [0, 30]) == 1).all()
    splits = ["train"] * 32
    splits[31] = "test"
    assert np.flatnonzero(close_pairs_that_differ(neighbors, 0.05, splits)[0]).tolist() == [1, 31]


def test_a_chain_of_similar_images_is_not_one_conflict():
    """a0 - a1 - b2 - b3 on a line, each close to the next: only the a1/b2 pair disagrees."""
    points = np.array([[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [5.0, -3.0], [-5.0, -3.0]])
    neighbors = nearest_neighbors(points, k=2)
    groups = near_duplicate_groups(neighbors, threshold=0.01)
    assert groups[0] == groups[1] == groups[2] == groups[3] >= 0
    conflicting, _ = close_pairs_that_differ(neighbors, 0.01, ["a", "a", "b", "b", "c", "d"])
    assert np.flatnonzero(conflicting).tolist() == [1, 2]


def test_outliers_from_knn_distance_and_from_prediction_entropy():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 0.1, (60, 8)) + np.eye(8)[0] * 5
    points[7] = -points[7] * 3  # far from everything
    entropy = rng.uniform(0.1, 0.2, 60)
    entropy[12] = 0.95  # the backbone recognises nothing in image 12
    is_issue, score, z = outlier_scores(nearest_neighbors(points, 5), entropy, threshold=4.0)
    assert np.flatnonzero(is_issue).tolist() == [7, 12]
    assert (score[is_issue] < 0.5).all() and (score[~is_issue] >= 0.5).all()
    assert np.flatnonzero(outlier_scores(nearest_neighbors(points, 5), None, 4.0)[0]).tolist() == [7]


def test_robust_z():
    z = robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert z[2] == 0 and z[4] > 30


def test_large_datasets_use_the_approximate_index(monkeypatch):
    from labelfix.issues import neighbors as neighbors_module

    monkeypatch.setattr(neighbors_module, "EXACT_SEARCH_LIMIT", 10)
    approximate = nearest_neighbors(_clusters(), k=3)
    monkeypatch.setattr(neighbors_module, "EXACT_SEARCH_LIMIT", 10**9)
    exact = nearest_neighbors(_clusters(), k=3)
    assert (approximate.indices[:, 0] == exact.indices[:, 0]).mean() > 0.9
    np.testing.assert_allclose(approximate.distances[:, 0], exact.distances[:, 0], atol=1e-4)


def test_neighbor_vote_weights_closer_neighbours_more():
    neighbors = Neighbors(indices=np.array([[1, 2], [0, 2], [1, 0]]), distances=np.array([[0.0, 0.5], [0.1, 0.1], [0.2, 0.2]]))
    labels = np.array([0, 1, 1])
    vote = neighbor_vote(neighbors, labels, n_classes=3, temperature=0.1)
    near, far = np.exp(1.0 / 0.1), np.exp(0.5 / 0.1)
    np.testing.assert_allclose(vote[0], [0.0, 1.0, 0.0])  # both neighbours say 1
    np.testing.assert_allclose(vote[1], [0.5, 0.5, 0.0])  # equally close: an even split
    np.testing.assert_allclose(neighbor_vote(Neighbors(np.array([[1, 2]]), np.array([[0.0, 0.5]])), labels[[0, 0, 1]], 2, 0.1)[0],
                               [near / (near + far), far / (near + far)])
    np.testing.assert_allclose(vote.sum(axis=1), 1.0)
