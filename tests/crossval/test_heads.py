import numpy as np
import pytest
import torch

from helpers import blobs
from labelfix.crossval.heads import MLPHead, make_head


def test_mlp_head_learns_separable_classes_and_is_seeded():
    features, labels = blobs(20, 3, separation=6)
    state = torch.random.get_rng_state()
    first = MLPHead(hidden=64, min_steps=300, seed=3).fit(features, labels)
    assert torch.equal(state, torch.random.get_rng_state())  # torch's global random state is left alone
    again = MLPHead(hidden=64, min_steps=300, seed=3).fit(features, labels)
    other = MLPHead(hidden=64, min_steps=300, seed=4).fit(features, labels)
    test_features, test_labels = blobs(10, 3, seed=1, separation=6)
    probabilities = first.predict_proba(test_features)
    np.testing.assert_array_equal(probabilities, again.predict_proba(test_features))
    assert not np.array_equal(probabilities, other.predict_proba(test_features))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert (probabilities.argmax(axis=1) == test_labels).mean() > 0.95
    assert first.classes_.tolist() == [0, 1, 2]


def test_make_head_names_the_choices():
    assert isinstance(make_head("mlp"), MLPHead)
    assert hasattr(make_head("logistic"), "predict_proba")
    with pytest.raises(ValueError, match="use logistic or mlp"):
        make_head("forest")
