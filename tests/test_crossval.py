import numpy as np
import pytest

from labelfix.crossval import assign_folds, out_of_fold_probabilities, small_classes
from labelfix.errors import DatasetError


def _blobs(n_per_class: int, n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = rng.normal(0, 1, (len(labels), 8)) + 4 * np.eye(n_classes, 8)[labels]
    return features, labels


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_folds_are_stratified_and_seeded(seed):
    _, labels = _blobs(10, 3)
    folds = assign_folds(labels, 5, seed)
    assert np.array_equal(folds, assign_folds(labels, 5, seed))
    for fold in range(5):
        assert np.bincount(labels[folds == fold], minlength=3).tolist() == [2, 2, 2]


def test_fewer_folds_when_classes_are_small():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert assign_folds(labels, 5, 0).max() == 2


def test_single_image_classes_cannot_be_cross_validated():
    with pytest.raises(DatasetError, match="single image"):
        assign_folds(np.array([0, 1, 2]), 5, 0)


def test_out_of_fold_probabilities_are_valid_and_accurate():
    features, labels = _blobs(20, 3)
    folds = assign_folds(labels, 5, 0)
    probabilities = out_of_fold_probabilities(features, labels, folds, 3)
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.95


def test_a_class_with_one_image_gets_probabilities_without_crashing():
    features, labels = _blobs(10, 3)
    features, labels = np.vstack([features, features[:1] + 8]), np.append(labels, 3)
    folds = assign_folds(labels, 5, 0)
    assert small_classes(labels, 5) == {3: 1}
    probabilities = out_of_fold_probabilities(features, labels, folds, 4)
    assert probabilities.shape == (31, 4) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_mlp_head_is_accurate_and_seeded():
    import torch

    features, labels = _blobs(20, 3)
    folds = assign_folds(labels, 5, 0)
    state = torch.random.get_rng_state()
    first = out_of_fold_probabilities(features, labels, folds, 3, head="mlp", seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # torch's global random state is left alone
    np.testing.assert_array_equal(first, out_of_fold_probabilities(features, labels, folds, 3, head="mlp", seed=3))
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    assert (first.argmax(axis=1) == labels).mean() > 0.95


def test_folds_fitted_in_parallel_equal_folds_fitted_one_by_one(monkeypatch):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 40)
    features = rng.normal(0, 1, (160, 24)) + np.eye(24)[labels] * 2
    folds = assign_folds(labels, 5, seed=0)
    parallel = out_of_fold_probabilities(features, labels, folds, 4)
    monkeypatch.setattr("labelfix.crossval.os.cpu_count", lambda: 1)
    one_by_one = out_of_fold_probabilities(features, labels, folds, 4)
    np.testing.assert_allclose(parallel, one_by_one, atol=1e-6)
