"""Per-class thresholds that reach an asked precision on validation predictions, with confidence."""

from __future__ import annotations

import numpy as np

from labelfix.pseudo import precision_thresholds, wilson_lower_bound


def test_the_lowest_threshold_whose_precision_is_assured_per_class():
    # class 0: 300 predictions, the 200 most confident right, then every other one; class 1: three, all right
    confidence = np.linspace(0.99, 0.5, 300)
    labels = np.r_[np.zeros(200, int), np.arange(100) % 2, [1, 1, 1]]
    probabilities = np.c_[np.r_[confidence, [0.1, 0.1, 0.1]], np.r_[1 - confidence, [0.9, 0.9, 0.9]]]
    thresholds, precisions = precision_thresholds(probabilities, labels, 0.9)
    kept = confidence >= thresholds[0]
    assert confidence[199] >= thresholds[0] > confidence[260]  # past the 200 sure ones, not into the coin flips
    assert (labels[:300][kept] == 0).mean() == precisions[0] >= 0.9
    assert np.isnan(thresholds[1])  # three right answers cannot promise 0.9


def test_the_wilson_bound_is_below_the_share_and_tightens_with_more_trials():
    bounds = wilson_lower_bound(np.array([1.0, 1.0, 0.9]), np.array([3, 300, 1000]))
    assert bounds[0] < 0.6 < 0.98 < bounds[1] < 1.0 and 0.88 < bounds[2] < 0.9
