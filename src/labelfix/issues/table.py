"""The per-image issue table (one row per image, worst first) shared by issues.csv, the store and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.issues import CheckResult, spread
from labelfix.issues.label import LabelIssues

# Issue types whose flag puts an image in the review queue (plain duplicates with equal labels do not).
REVIEW_TYPES = ("label", "conflicting_duplicate", "outlier", "leakage", "invalid", "dark", "light", "blurry",
                "low_information", "grayscale", "odd_size", "odd_aspect_ratio")
# The review score of an image flagged for anything but its label (an outlier, a conflicting duplicate, dark,
# grayscale...) whose label score is higher: it is reviewed after the label suspects scoring below this.
OTHER_PROBLEM_SCORE = 0.5


def issue_table(
    manifest: Manifest,
    readable: np.ndarray,
    folds: np.ndarray,
    label_issues: LabelIssues,
    errors: dict[int, str],
    checks: dict[str, CheckResult],
) -> pd.DataFrame:
    """Rows indexed by item, sorted worst first (see `review_order`).

    `readable` (N,) bool; `folds` and `label_issues` cover the readable images only; each check covers all N.
    """
    n = len(manifest)
    rows = np.flatnonzero(readable)
    classes = np.array(manifest.classes, dtype=object)
    table = pd.DataFrame(
        {
            "path": [item.path for item in manifest.items],
            "split": [item.split or "" for item in manifest.items],
            "given_label": [item.label for item in manifest.items],
            "suggested_label": spread(classes[label_issues.suggested_label], rows, n),
            "label_score": spread(label_issues.label_score, rows, n),
            "is_label_issue": spread(label_issues.is_label_issue, rows, n),
            "given_label_probability": spread(label_issues.given_probability, rows, n),
            "suggested_label_probability": spread(label_issues.suggested_probability, rows, n),
            "fold": pd.array(spread(folds.astype(object), rows, n), dtype="Int64"),
            "is_unreadable_issue": ~readable,
            "unreadable_reason": [errors.get(i, "") for i in range(n)],
        }
    )
    for name, result in checks.items():
        table[f"is_{name}_issue"] = result.is_issue
        table[f"{name}_score"] = result.score
        for column, values in result.details.items():
            table[column] = values
    flagged = [f"is_{name}_issue" for name in REVIEW_TYPES if f"is_{name}_issue" in table]
    table["needs_review"] = table[flagged + ["is_unreadable_issue"]].any(axis=1)
    table["review_score"] = review_scores(table)
    return table.iloc[review_order(table)]


def review_scores(table: pd.DataFrame) -> np.ndarray:
    """(N,) the label score, lowered to OTHER_PROBLEM_SCORE for an image needing review for another reason: label
    suspects come in the order of their label score, flagged or not, and other problems after the likely ones."""
    label = table["label_score"].to_numpy(float)
    other = table["needs_review"].to_numpy(bool) & ~table["is_label_issue"].to_numpy(bool)
    return np.where(other, np.fmin(label, OTHER_PROBLEM_SCORE), label)


def review_order(table: pd.DataFrame) -> np.ndarray:
    """Unreadable, then invalid files, then every other image by its review score (`review_scores`), lowest
    first; ties in dataset order."""
    invalid = table["is_invalid_issue"].to_numpy(bool) if "is_invalid_issue" in table else np.zeros(len(table), bool)
    return np.lexsort((
        np.arange(len(table)),
        table["review_score"].fillna(0.0).to_numpy(float),
        ~invalid,
        ~table["is_unreadable_issue"].to_numpy(bool),
    ))


def issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types present in the table, from its `is_<type>_issue` columns."""
    return [c[3:-6] for c in table.columns if c.startswith("is_") and c.endswith("_issue")]


def health_issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types other than label and unreadable."""
    return [name for name in issue_types(table) if name not in ("label", "unreadable")]
