"""Per-class thresholds that reach an asked precision on validation predictions, with confidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelfix.pseudo import ScoredPool, keep_precise, precision_thresholds, wilson_lower_bound


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


def test_one_scored_pool_serves_every_asked_precision_and_the_strictest_checkpoint_decides():
    confidence = np.linspace(0.99, 0.5, 300)
    sure = np.c_[confidence, 1 - confidence]  # class 0 predicted everywhere
    right_then_coin_flips = np.r_[np.zeros(200, int), np.arange(100) % 2]
    always_right = np.zeros(300, int)
    pool = np.c_[np.linspace(0.99, 0.5, 50), np.linspace(0.01, 0.5, 50)]
    scored = ScoredPool(["a", "b"], [Path(f"{i}.png") for i in range(50)], pool,
                        [(sure, right_then_coin_flips), (sure, always_right)])
    strict, loose = keep_precise(scored, 0.95), keep_precise(scored, 0.7)
    assert 0 < strict.kept.sum() < loose.kept.sum() <= 50
    alone = keep_precise(ScoredPool(["a", "b"], scored.files, pool, [(sure, always_right)]), 0.95)
    assert strict.thresholds[0] > alone.thresholds[0]  # the checkpoint with coin flips asks for more confidence
    assert np.isnan(strict.thresholds[1])  # nothing is ever predicted as b
