"""The per-image issue table (one row per image, worst first) shared by issues.csv, the store and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.issues.label import LabelIssues

COLUMNS = [
    "path",
    "split",
    "given_label",
    "suggested_label",
    "label_score",
    "is_label_issue",
    "given_label_probability",
    "suggested_label_probability",
    "fold",
    "is_unreadable_issue",
    "unreadable_reason",
]


def issue_table(
    manifest: Manifest,
    readable: np.ndarray,
    folds: np.ndarray,
    label_issues: LabelIssues,
    errors: dict[int, str],
) -> pd.DataFrame:
    """Rows in manifest order, indexed by item index, then sorted: unreadable first, then lowest label score.

    `readable` (N,) bool; `folds` and `label_issues` arrays cover the readable images only.
    """
    classes = np.array(manifest.classes, dtype=object)
    n = len(manifest)
    table = pd.DataFrame(
        {
            "path": [item.path for item in manifest.items],
            "split": [item.split or "" for item in manifest.items],
            "given_label": [item.label for item in manifest.items],
            "suggested_label": pd.Series([None] * n, dtype=object),
            "label_score": np.nan,
            "is_label_issue": False,
            "given_label_probability": np.nan,
            "suggested_label_probability": np.nan,
            "fold": pd.array([pd.NA] * n, dtype="Int64"),
            "is_unreadable_issue": ~readable,
            "unreadable_reason": [errors.get(i, "") for i in range(n)],
        }
    )
    rows = np.flatnonzero(readable)
    table.loc[rows, "suggested_label"] = classes[label_issues.suggested_label]
    table.loc[rows, "label_score"] = label_issues.label_score
    table.loc[rows, "is_label_issue"] = label_issues.is_label_issue
    table.loc[rows, "given_label_probability"] = label_issues.given_probability
    table.loc[rows, "suggested_label_probability"] = label_issues.suggested_probability
    table.loc[rows, "fold"] = folds
    table["is_label_issue"] = table["is_label_issue"].astype(bool)
    order = np.lexsort((table.index.to_numpy(), table["label_score"].fillna(-1.0).to_numpy()))
    return table.iloc[order][COLUMNS]
