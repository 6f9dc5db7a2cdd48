import numpy as np
import pytest

from labelfix.crossval.folds import assign_folds, small_classes
from labelfix.errors import DatasetError


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_folds_are_stratified_and_seeded(seed):
    labels = np.repeat(np.arange(3), 10)
    folds = assign_folds(labels, 5, seed)
    assert np.array_equal(folds, assign_folds(labels, 5, seed))
    for fold in range(5):
        assert np.bincount(labels[folds == fold], minlength=3).tolist() == [2, 2, 2]


def test_another_seed_assigns_other_folds():
    labels = np.repeat(np.arange(3), 10)
    assert not np.array_equal(assign_folds(labels, 5, 0), assign_folds(labels, 5, 1))


def test_fewer_folds_when_classes_are_small():
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert assign_folds(labels, 5, 0).max() == 2


def test_single_image_classes_cannot_be_cross_validated():
    with pytest.raises(DatasetError, match="single image"):
        assign_folds(np.array([0, 1, 2]), 5, 0)


def test_small_classes_are_named_with_their_size():
    assert small_classes(np.array([0] * 6 + [1] * 2 + [2]), 5) == {1: 2, 2: 1}
