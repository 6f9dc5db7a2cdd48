"""Per-class thresholds that reach an asked precision on validation predictions."""

from __future__ import annotations

import numpy as np

from labelfix.pseudo import precision_thresholds


def test_the_lowest_threshold_that_keeps_the_precision_per_class():
    # class 0 predicted with confidence 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right); class 1 always wrong
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    labels = np.array([0, 0, 1, 0, 0, 0])
    thresholds, precisions = precision_thresholds(probabilities, labels, 0.75)
    assert thresholds[0] == 0.6 and precisions[0] == 0.75  # the top four are right 3 times in 4
    assert np.isnan(thresholds[1]) and np.isnan(precisions[1])  # never right: keeps nothing
    thresholds, precisions = precision_thresholds(probabilities, labels, 0.9)
    assert thresholds[0] == 0.8 and precisions[0] == 1.0
