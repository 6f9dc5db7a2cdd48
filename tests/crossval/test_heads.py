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


def test_minibatch_logistic_head_matches_sklearn_and_reads_rows_without_copies():
    from sklearn.linear_model import LogisticRegression

    from labelfix.crossval.heads import MinibatchLogisticHead, logistic_head

    features, labels = blobs(60, 3, separation=1.5)
    test_features, test_labels = blobs(30, 3, seed=1, separation=1.5)
    state = torch.random.get_rng_state()
    head = MinibatchLogisticHead(batch_size=64, seed=0).fit(features, labels)
    assert torch.equal(state, torch.random.get_rng_state())
    reference = logistic_head().fit(features, labels)
    ours, theirs = head.predict_proba(test_features), reference.predict_proba(test_features)
    assert abs((ours.argmax(1) == test_labels).mean() - (theirs.argmax(1) == test_labels).mean()) <= 0.05
    assert np.abs(ours - theirs).mean() < 0.05  # calibrated alike, not just the same argmax
    assert isinstance(reference[-1], LogisticRegression)
    rows = np.arange(0, len(features), 2)
    from_rows = MinibatchLogisticHead(batch_size=64, seed=0).fit(features, labels, rows)
    from_copy = MinibatchLogisticHead(batch_size=64, seed=0).fit(features[rows], labels[rows])
    np.testing.assert_allclose(from_rows.predict_proba(features, rows), from_copy.predict_proba(features[rows]), atol=1e-6)
