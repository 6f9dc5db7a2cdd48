"""The per-image issue table (one row per image, worst first) shared by issues.csv, the store and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.issues import CheckResult, spread
from labelfix.issues.label import LabelIssues
from labelfix.issues.multilabel import MultilabelIssues

# Issue types whose flag puts an image in the review queue (plain duplicates with equal labels do not).
REVIEW_TYPES = ("label", "conflicting_duplicate", "outlier", "leakage", "invalid", "dark", "light", "blurry",
                "low_information", "grayscale", "odd_size", "odd_aspect_ratio")
# The review score of an image flagged for anything but its label (an outlier, a conflicting duplicate, dark,
# grayscale...) whose label score is higher: it is reviewed after the label suspects scoring below this.
OTHER_PROBLEM_SCORE = 0.5


# Label-set columns of a multi-label table: tuples of class names (JSON lists in issues.csv).
LABEL_SET_COLUMNS = ("given_labels", "suggested_labels", "missing_labels", "extra_labels")


def issue_table(
    manifest: Manifest,
    readable: np.ndarray,
    folds: np.ndarray,
    label_issues: LabelIssues | MultilabelIssues,
    errors: dict[int, str],
    checks: dict[str, CheckResult],
) -> pd.DataFrame:
    """Rows indexed by item, sorted worst first (see `review_order`).

    `readable` (N,) bool; `folds` and `label_issues` cover the readable images only; each check covers all N.
    A single-label table has given_label / suggested_label (and their probabilities), a multi-label one
    given_labels / suggested_labels / missing_labels / extra_labels (`LABEL_SET_COLUMNS`).
    """
    n = len(manifest)
    rows = np.flatnonzero(readable)
    label_columns = (_label_set_columns if isinstance(label_issues, MultilabelIssues) else _label_columns)(
        manifest, label_issues)
    table = pd.DataFrame(
        {
            "path": [item.path for item in manifest.items],
            "split": [item.split or "" for item in manifest.items],
            **{name: values if len(values) == n else spread(values, rows, n) for name, values in label_columns.items()},
            "fold": pd.arrays.IntegerArray(spread(folds.astype(np.int64), rows, n, 0), ~readable),  # <NA>: unreadable
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


def _label_columns(manifest: Manifest, issues: LabelIssues) -> dict[str, np.ndarray]:
    classes = np.array(manifest.classes, dtype=object)
    return {
        "given_label": np.array([item.label for item in manifest.items], dtype=object),
        "suggested_label": classes[issues.suggested_label],
        "label_score": issues.label_score,
        "is_label_issue": issues.is_label_issue,
        "given_label_probability": issues.given_probability,
        "suggested_label_probability": issues.suggested_probability,
    }


def _label_set_columns(manifest: Manifest, issues: MultilabelIssues) -> dict[str, np.ndarray]:
    classes = np.array(manifest.classes, dtype=object)

    def names(matrix: np.ndarray) -> np.ndarray:
        sets = np.empty(len(matrix), dtype=object)
        sets[:] = [tuple(classes[row.astype(bool)]) for row in matrix]
        return sets

    given = np.empty(len(manifest), dtype=object)
    given[:] = [tuple(item.labels) for item in manifest.items]
    return {
        "given_labels": given,
        "suggested_labels": names(issues.suggested),
        "missing_labels": names(issues.missing),
        "extra_labels": names(issues.extra),
        "label_score": issues.label_score,
        "is_label_issue": issues.is_label_issue,
    }


def is_multilabel_table(table: pd.DataFrame) -> bool:
    return "given_labels" in table


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
