"""Ensembles: soft and hard votes."""

from __future__ import annotations

import numpy as np
import pytest

from labelfix.errors import ModelError
from labelfix.training.ensemble import combine


def test_soft_averages_and_hard_counts_votes_with_ties_to_the_soft_favourite():
    a = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5]])
    b = np.array([[0.1, 0.9, 0.0], [0.1, 0.2, 0.7]])
    np.testing.assert_allclose(combine([a, b]), (a + b) / 2)
    hard = combine([a, b], "hard")
    assert hard.argmax(axis=1).tolist() == [1, 2]  # row 0: a tie of votes; the soft mean prefers class 1
    np.testing.assert_allclose(hard[1], [0, 0, 1], atol=1e-6)
    with pytest.raises(ModelError, match="--vote"):
        combine([a], "loud")
