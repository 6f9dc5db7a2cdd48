"""The per-image issue table (one row per image, worst first) shared by issues.csv, the store and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.issues.label import LabelIssues


def issue_table(
    manifest: Manifest,
    readable: np.ndarray,
    folds: np.ndarray,
    label_issues: LabelIssues,
    errors: dict[int, str],
    health: dict[str, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """Rows indexed by item, sorted worst first: unreadable, then image-health issues, then by label score.

    `readable` (N,) bool; `folds` and `label_issues` cover the readable images only; `health` maps an
    issue type to (is_issue (N,), score (N,)) over all images.
    """
    n = len(manifest)
    rows = np.flatnonzero(readable)

    def spread(values: np.ndarray, fill) -> np.ndarray:
        full = np.full(n, fill, dtype=object if fill is None else np.asarray(values).dtype)
        full[rows] = values
        return full

    classes = np.array(manifest.classes, dtype=object)
    table = pd.DataFrame(
        {
            "path": [item.path for item in manifest.items],
            "split": [item.split or "" for item in manifest.items],
            "given_label": [item.label for item in manifest.items],
            "suggested_label": spread(classes[label_issues.suggested_label], None),
            "label_score": spread(label_issues.label_score, np.nan),
            "is_label_issue": spread(label_issues.is_label_issue, False),
            "given_label_probability": spread(label_issues.given_probability, np.nan),
            "suggested_label_probability": spread(label_issues.suggested_probability, np.nan),
            "fold": pd.array(spread(folds, None), dtype="Int64"),
            "is_unreadable_issue": ~readable,
            "unreadable_reason": [errors.get(i, "") for i in range(n)],
        }
    )
    for name, (is_issue, score) in health.items():
        table[f"is_{name}_issue"] = np.asarray(is_issue, dtype=bool) & readable
        table[f"{name}_score"] = np.where(readable, score, np.nan)
    any_health = table[[f"is_{name}_issue" for name in health]].any(axis=1).to_numpy() if health else np.zeros(n, bool)
    order = np.lexsort((np.arange(n), table["label_score"].fillna(0.0).to_numpy(), ~any_health, readable))
    return table.iloc[order]
