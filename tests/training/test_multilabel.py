"""Per-class thresholds and multi-label metrics (pure functions)."""

from __future__ import annotations

import numpy as np

from labelfix.training.multilabel import choose_thresholds, labels_over_threshold, multilabel_summary


def test_thresholds_take_each_class_s_best_f1():
    truth = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    probabilities = np.array([[0.9, 0.2], [0.4, 0.1], [0.3, 0.2], [0.2, 0.25]])
    thresholds = choose_thresholds(truth, probabilities)
    assert thresholds[0] == 0.4  # both positives in, the 0.3 negative out: F1 = 1
    assert thresholds[1] == 0.25
    assert choose_thresholds(np.zeros((3, 1)), np.full((3, 1), 0.9))[0] == 0.5  # no positives: the default


def test_summary_counts_per_class_at_the_thresholds():
    truth = np.array([[1, 0], [1, 1], [0, 1]])
    probabilities = np.array([[0.8, 0.1], [0.6, 0.7], [0.7, 0.9]])
    summary = multilabel_summary(truth, probabilities, ["a", "b"], np.array([0.65, 0.5]))
    assert summary["per_class"]["a"]["precision"] == 0.5 and summary["per_class"]["a"]["recall"] == 0.5
    assert summary["per_class"]["b"]["f1"] == 1.0 and summary["per_class"]["b"]["ap"] == 1.0
    assert summary["exact_set_accuracy"] == 1 / 3 and 0 < summary["map"] <= 1


def test_labels_over_threshold_most_probable_first():
    rows = labels_over_threshold(np.array([[0.6, 0.9, 0.1]]), ["a", "b", "c"], np.array([0.5, 0.5, 0.05]))
    assert rows == [[("b", 0.9), ("a", 0.6), ("c", 0.1)]]
