import math

import pandas as pd

from labelfix.store.write import _numbers_or_none


def test_store_rows_take_missing_folds_and_scores_as_null():
    folds = pd.Series(pd.array([3, None, 0], dtype="Int64"))
    scores = pd.Series([0.25, math.nan, 1e-9])
    assert _numbers_or_none(folds, int) == [3, None, 0]
    assert [type(v) for v in _numbers_or_none(folds, int) if v is not None] == [int, int]
    assert _numbers_or_none(scores) == [0.25, None, 1e-9]
