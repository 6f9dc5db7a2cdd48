import numpy as np

from labelfix.features.neighbors import nearest_neighbors
from labelfix.issues.duplicates import (
    close_pairs_that_differ,
    exact_duplicate_groups,
    near_duplicate_groups,
    near_duplicate_score,
)


def _clusters(seed=0):
    """30 spread-out points, a near-duplicate pair (0, 30) and an exact pair (1, 31)."""
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 1, (30, 16))
    return np.vstack([points, points[0] + rng.normal(0, 0.01, 16), points[1]])


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


def test_a_chain_of_similar_images_is_neither_one_group_nor_one_conflict():
    """a0 - a1 - b2 - b3 on a line, each close to the next only: groups of mutually close images, and only the
    a1/b2 pair disagrees."""
    points = np.array([[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [5.0, -3.0], [-5.0, -3.0]])
    neighbors = nearest_neighbors(points, k=2)
    threshold = float(np.sort(neighbors.distances[:4, 0]).max()) * 1.01  # neighbours close, two steps not
    groups = near_duplicate_groups(neighbors, threshold=threshold)
    assert groups[0] == groups[1] >= 0 and groups[2] == groups[3] >= 0 and groups[1] != groups[2]
    assert (groups[4:] == -1).all()
    conflicting, _ = close_pairs_that_differ(neighbors, 0.01, ["a", "a", "b", "b", "c", "d"])
    assert np.flatnonzero(conflicting).tolist() == [1, 2]
