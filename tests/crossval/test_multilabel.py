"""Multi-label folds, out-of-fold probabilities per class and the neighbours' share of each class."""

from __future__ import annotations

import numpy as np

from labelfix.crossval.multilabel import (
    multilabel_folds,
    multilabel_out_of_fold_probabilities,
    neighbor_label_share,
    presence_accuracy,
)
from labelfix.features.neighbors import Neighbors


def _label_sets(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((n, 4)) < [0.5, 0.3, 0.2, 0.0]).astype(np.int8)
    matrix[rng.choice(n, 5, replace=False), 3] = 1  # a rare class: 5 images
    return matrix


def test_folds_put_a_rare_class_in_every_fold_and_repeat_with_the_seed():
    matrix = _label_sets(200)
    folds = multilabel_folds(matrix, 5, seed=3)
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    assert all(matrix[folds == fold, 3].sum() == 1 for fold in range(5))  # 5 rare images, one per fold
    assert np.array_equal(folds, multilabel_folds(matrix, 5, seed=3))
    assert not np.array_equal(folds, multilabel_folds(matrix, 5, seed=4))


def test_out_of_fold_probabilities_follow_each_class_independently():
    rng = np.random.default_rng(0)
    matrix = (rng.random((300, 3)) < 0.4).astype(np.int8)
    features = rng.normal(0, 1, (300, 8)) + 3 * np.pad(matrix, ((0, 0), (0, 5)))  # one direction per class
    features[:, 7] += 5  # away from the origin: the head normalises rows
    probabilities = multilabel_out_of_fold_probabilities(features, matrix, multilabel_folds(matrix, 5, 0))
    assert probabilities.shape == (300, 3) and ((probabilities > 0) & (probabilities < 1)).all()
    assert presence_accuracy(probabilities, matrix) > 0.9


def test_a_class_constant_in_the_training_folds_gets_that_constant():
    matrix = np.zeros((40, 2), dtype=np.int8)
    matrix[:20, 0] = 1
    features = np.random.default_rng(0).normal(0, 1, (40, 4)) + 3
    folds = np.arange(40) % 4
    probabilities = multilabel_out_of_fold_probabilities(features, matrix, folds)
    assert probabilities[:, 1].max() < 1e-3  # class 1 is never given


def test_neighbor_share_is_the_weighted_share_of_neighbours_given_each_class():
    matrix = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.int8)
    neighbors = Neighbors(indices=np.array([[1, 2], [0, 2], [0, 1]]), distances=np.full((3, 2), 0.1))
    share = neighbor_label_share(neighbors, matrix)
    assert np.allclose(share, [[0.5, 1.0], [0.5, 0.5], [1.0, 0.5]])
