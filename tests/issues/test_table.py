"""The issue table: one row per image, worst first, on hand-made values."""

from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.dataset import Item, Manifest
from labelfix.issues import CheckResult
from labelfix.issues.label import LabelIssues
from labelfix.issues.table import health_issue_types, issue_table, review_order, review_scores


def _table():
    """Six images: 0 readable and fine, 1 unreadable, 2 a label issue (score 0.1), 3 an outlier (score 0.3),
    4 invalid (an odd file), 5 a mild label issue (score 0.4)."""
    items = tuple(Item(f"{c}/{i}.png", (c,)) for i, c in enumerate("aabbab"))
    manifest = Manifest(root=Path("/data"), items=items, source="folders")
    readable = np.array([True, False, True, True, True, True])
    label_issues = LabelIssues(
        is_label_issue=np.array([False, True, False, False, True]),
        label_score=np.array([0.9, 0.1, 0.8, 0.7, 0.4]),
        suggested_label=np.array([0, 0, 1, 0, 0]),
        given_probability=np.array([0.9, 0.1, 0.8, 0.7, 0.4]),
        suggested_probability=np.array([0.9, 0.9, 0.8, 0.7, 0.6]),
    )
    outlier = CheckResult(is_issue=np.array([False, False, False, True, False, False]),
                          score=np.array([0.9, np.nan, 0.8, 0.3, 0.9, 0.9]), details={"outlier_z": np.zeros(6)})
    invalid = CheckResult(is_issue=np.array([False, False, False, False, True, False]),
                          score=np.array([1.0, np.nan, 1.0, 1.0, 0.0, 1.0]))
    folds = np.array([0, 1, 0, 1, 0])
    return issue_table(manifest, readable, folds, label_issues, {1: "empty file (0 bytes)"},
                       {"outlier": outlier, "invalid": invalid})


def test_rows_come_unreadable_first_then_invalid_then_by_review_score():
    table = _table()
    assert table.index.tolist() == [1, 4, 2, 5, 3, 0]
    assert table["needs_review"].tolist() == [True, True, True, True, True, False]
    assert table.loc[3, "review_score"] == 0.5  # an outlier with label score 0.8: after the label suspects


def test_rows_hold_the_labels_suggestions_and_readability_of_each_image():
    table = _table()
    assert table.loc[2, ["given_label", "suggested_label", "is_label_issue"]].tolist() == ["b", "a", True]
    assert table.loc[1, "unreadable_reason"] == "empty file (0 bytes)" and pd.isna(table.loc[1, "label_score"])
    assert pd.isna(table.loc[1, "fold"]) and table.loc[5, "fold"] == 0
    assert health_issue_types(table) == ["outlier", "invalid"]


def test_label_suspects_come_in_label_score_order_and_other_problems_after_the_likely_ones():
    """An unflagged image with a low label score (0.2) comes before a flagged one (0.5); an image flagged for
    something else (an outlier, say) ranks at its label score or 0.5, whichever is lower; ties in dataset order."""
    table = pd.DataFrame({"label_score": [0.5, 0.3, 0.2, 0.9, 0.7], "is_label_issue": [True, False, False, False, False],
                          "needs_review": [True, True, False, True, False], "is_unreadable_issue": [False] * 5})
    table["review_score"] = review_scores(table)
    assert table["review_score"].tolist() == [0.5, 0.3, 0.2, 0.5, 0.7]
    assert review_order(table).tolist() == [2, 1, 0, 3, 4]
