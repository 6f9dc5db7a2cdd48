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


def test_the_gpu_logistic_heads_solve_sklearns_problem_per_fold():
    """logistic_heads_on_device (a scan's heads on CUDA; here on the CPU) reaches each fold's scikit-learn solution
    when both solve tightly, on overlapping classes where the regularisation matters; a class missing from a
    fold's training rows gets probability 0 there, as with scikit-learn."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    from labelfix.crossval.heads import logistic_heads_on_device

    features, labels = blobs(60, 4, separation=1.0)
    folds = np.arange(len(labels)) % 3
    folds[labels == 3] = 0  # class 3 is only in fold 0: fold 0's head never sees it
    for regularization in (0.3, 10.0):
        found = logistic_heads_on_device(features, labels, folds, 4, regularization, "cpu", tolerance=1e-7)
        assert found.shape == (len(labels), 4) and found.dtype == np.float64
        for fold in range(3):
            held_out = folds == fold
            expected = make_pipeline(Normalizer(), LogisticRegression(C=regularization, tol=1e-8, max_iter=5000))
            expected.fit(features[~held_out], labels[~held_out])
            columns = expected.classes_
            np.testing.assert_allclose(found[np.ix_(held_out, columns)], expected.predict_proba(features[held_out]),
                                       atol=2e-3)
        assert (found[folds == 0, 3] == 0).all()
