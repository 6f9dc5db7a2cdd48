import numpy as np
import pytest

from labelfix.crossval.probabilities import FLOOR, blend, normalized


def test_normalized_rows_sum_to_one_with_no_zero():
    rows = normalized(np.array([[0.0, 2.0, 2.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    assert rows.min() > 0 and np.isclose(rows[1, 1] / rows[1, 0], FLOOR)
    np.testing.assert_allclose(rows[0, 1:], [0.5, 0.5], atol=1e-6)


def test_blend_weights_the_second_matrix():
    first, second = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_allclose(blend(first, second, 0.3), [[0.7, 0.3]])
    np.testing.assert_allclose(blend(first, second, 0.0), first)
    with pytest.raises(ValueError, match="not in"):
        blend(first, second, 1.5)
