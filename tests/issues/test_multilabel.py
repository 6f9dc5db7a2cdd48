"""Multi-label label issues: which labels of an image look missing or extra."""

from __future__ import annotations

import numpy as np

from labelfix.issues.multilabel import class_quality, find_multilabel_problems, label_set_text


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


def test_class_quality_counts_per_class():
    given, probabilities, missing, extra = _planted()
    quality = class_quality(find_multilabel_problems(given, probabilities))
    assert [row["missing"] for row in quality] == [6, 0, 0] and [row["extra"] for row in quality] == [0, 6, 0]
    assert quality[1]["extra_rate"] == 6 / given[:, 1].sum()
    assert quality[0]["images"] == int(given[:, 0].sum())


def test_label_set_text():
    assert label_set_text(("cat", "sofa")) == "cat + sofa" and label_set_text(()) == "(no label)"
