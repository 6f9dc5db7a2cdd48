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
# Issue types whose score is evidence that the label or the image is wrong: the review order uses their minimum.
EVIDENCE_TYPES = ("label", "conflicting_duplicate", "outlier")
# Where an image flagged only for how it looks (dark, grayscale, an odd size...) goes in the review order: with the
# images whose evidence score is this, after the likely label errors (scores below it).
LOOKS_ONLY_SCORE = 0.5


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
    evidence = [f"{name}_score" for name in EVIDENCE_TYPES if f"{name}_score" in table]
    table["review_score"] = table[evidence].min(axis=1, skipna=True)
    return table.iloc[review_order(table)]


def review_order(table: pd.DataFrame) -> np.ndarray:
    """Unreadable, then invalid files, then every other image by its review score, lowest first: the likeliest
    problems of any type first. An image flagged only for how it looks ranks at LOOKS_ONLY_SCORE, so it never
    buries a label suspect, flagged or not (ranked by label score alone, the same suspects come first)."""
    invalid = table["is_invalid_issue"].to_numpy(bool) if "is_invalid_issue" in table else np.zeros(len(table), bool)
    score = table["review_score"].fillna(0.0).to_numpy(float)
    looks = table["needs_review"].to_numpy(bool) & (score > LOOKS_ONLY_SCORE)
    return np.lexsort((
        np.arange(len(table)),
        np.where(looks, LOOKS_ONLY_SCORE, score),
        ~invalid,
        ~table["is_unreadable_issue"].to_numpy(bool),
    ))


def issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types present in the table, from its `is_<type>_issue` columns."""
    return [c[3:-6] for c in table.columns if c.startswith("is_") and c.endswith("_issue")]


def health_issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types other than label and unreadable."""
    return [name for name in issue_types(table) if name not in ("label", "unreadable")]
