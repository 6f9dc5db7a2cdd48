"""Multi-label label issues: which labels of an image look missing or extra."""

from __future__ import annotations

import numpy as np
from cleanlab.multilabel_classification.rank import get_label_quality_scores

from labelfix.issues.multilabel import as_lists, class_quality, find_multilabel_problems, label_set_text


def _planted(n: int = 400, seed: int = 0):
    """True sets, probabilities a decent model would give (sure of the flipped entries' truth), and given sets with
    a few entries flipped."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, 3)) < 0.4).astype(np.int8)
    probabilities = np.clip(np.where(truth == 1, rng.uniform(0.7, 0.99, truth.shape), rng.uniform(0.01, 0.3, truth.shape)), 0, 1)
    given = truth.copy()
    missing = [(i, 0) for i in np.flatnonzero(truth[:, 0])[:6]]
    extra = [(i, 1) for i in np.flatnonzero(truth[:, 1] == 0)[:6]]
    for i, k in missing + extra:
        given[i, k] = 1 - given[i, k]
        probabilities[i, k] = 0.97 if truth[i, k] else 0.02
    return given, probabilities, missing, extra


def test_flipped_entries_are_named_missing_or_extra_and_rank_first():
    given, probabilities, missing, extra = _planted()
    issues = find_multilabel_problems(given, probabilities)
    assert all(issues.missing[i, k] for i, k in missing) and all(issues.extra[i, k] for i, k in extra)
    assert all(issues.suggested[i, k] != given[i, k] for i, k in missing + extra)
    planted = {i for i, _ in missing + extra}
    assert set(np.argsort(issues.label_score)[: len(planted)]) == planted
    assert issues.is_label_issue.sum() == len(planted)
    assert (issues.entry_score[tuple(np.array(missing).T)] < 0.35).all()


def test_a_class_the_model_is_unsure_of_everywhere_does_not_crowd_out_the_errors():
    """Each class's probabilities are adjusted by its confident thresholds before the entries are compared: class 2
    is given where it is shown, yet the model only ever gives it 0.35-0.6; the planted missing class 0 (0.55) is
    a surer error for class 0 than any class-2 entry is for class 2."""
    rng = np.random.default_rng(1)
    given = (rng.random((400, 3)) < 0.4).astype(np.int8)
    sure = np.where(given == 1, rng.uniform(0.9, 0.99, given.shape), rng.uniform(0.01, 0.1, given.shape))
    probabilities = np.where((given[:, 2:] == 1) & (np.arange(3) == 2), rng.uniform(0.35, 0.6, given.shape), sure)
    planted = np.flatnonzero(given[:, 0] == 0)[:6]
    probabilities[planted, 0] = 0.55
    issues = find_multilabel_problems(given, probabilities)
    assert set(np.argsort(issues.label_score)[:6]) == set(planted)
    unadjusted = get_label_quality_scores(as_lists(given), probabilities)  # cleanlab's defaults
    assert not set(np.argsort(unadjusted)[:6]) & set(planted)


def test_class_quality_counts_per_class():
    given, probabilities, missing, extra = _planted()
    quality = class_quality(find_multilabel_problems(given, probabilities))
    assert [row["missing"] for row in quality] == [6, 0, 0] and [row["extra"] for row in quality] == [0, 6, 0]
    assert quality[1]["extra_rate"] == 6 / given[:, 1].sum()
    assert quality[0]["images"] == int(given[:, 0].sum())


def test_label_set_text():
    assert label_set_text(("cat", "sofa")) == "cat + sofa" and label_set_text(()) == "(no label)"
