"""Out-of-fold probabilities from heads on embeddings."""

import numpy as np

from helpers import blobs
from labelfix.crossval import embedding as embedding_module
from labelfix.crossval.embedding import out_of_fold_probabilities
from labelfix.crossval.folds import assign_folds


def test_out_of_fold_probabilities_are_valid_and_accurate():
    features, labels = blobs(20, 3)
    probabilities = out_of_fold_probabilities(features, labels, assign_folds(labels, 5, 0), 3)
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.95


def test_each_image_is_predicted_by_a_head_that_never_saw_it():
    """Every image is its own feature (one-hot) and labels are coin flips: a head that had seen an image would
    repeat its label; out of fold, nothing is known about the image and the prediction is the class prior."""
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1], 20))
    probabilities = out_of_fold_probabilities(np.eye(40), labels, assign_folds(labels, 5, 0), 2)
    given = probabilities[np.arange(40), labels]
    assert given.max() < 0.6 and abs(given.mean() - 0.5) < 0.05


def test_a_class_with_one_image_gets_probabilities_without_crashing():
    features, labels = blobs(10, 3)
    features, labels = np.vstack([features, features[:1] + 8]), np.append(labels, 3)
    probabilities = out_of_fold_probabilities(features, labels, assign_folds(labels, 5, 0), 4)
    assert probabilities.shape == (31, 4) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_mlp_folds_fitted_in_parallel_are_seeded():
    features, labels = blobs(12, 3)
    folds = assign_folds(labels, 3, 0)
    first = out_of_fold_probabilities(features, labels, folds, 3, head="mlp", seed=3)
    np.testing.assert_array_equal(first, out_of_fold_probabilities(features, labels, folds, 3, head="mlp", seed=3))
    assert (first.argmax(axis=1) == labels).mean() > 0.95


def test_folds_fitted_in_parallel_equal_folds_fitted_one_by_one(monkeypatch):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 40)
    features = rng.normal(0, 1, (160, 24)) + np.eye(24)[labels] * 2
    folds = assign_folds(labels, 5, seed=0)
    parallel = out_of_fold_probabilities(features, labels, folds, 4)
    monkeypatch.setattr(embedding_module.os, "cpu_count", lambda: 1)
    one_by_one = out_of_fold_probabilities(features, labels, folds, 4)
    np.testing.assert_allclose(parallel, one_by_one, atol=1e-6)
