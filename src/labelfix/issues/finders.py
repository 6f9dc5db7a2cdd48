"""All image-level checks (health, duplicates, outliers) as one explicit table of finders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from labelfix.config import ChecksConfig
from labelfix.features.neighbors import Neighbors
from labelfix.issues import CheckResult, health, spread
from labelfix.issues.duplicates import (
    close_pairs_that_differ,
    exact_duplicate_groups,
    near_duplicate_groups,
    near_duplicate_score,
)
from labelfix.issues.outliers import outlier_scores

log = logging.getLogger(__name__)

# name -> (score function of the statistics columns, threshold) -> (is_issue, score)
HEALTH_CHECKS: dict[str, Callable[[dict[str, np.ndarray], float], tuple[np.ndarray, np.ndarray]]] = {
    "dark": lambda s, t: health.dark(s["brightness_p99"], t),
    "light": lambda s, t: health.light(s["brightness_p1"], t),
    "blurry": lambda s, t: health.blurry(s["sharpness"], t),
    "low_information": lambda s, t: health.low_information(s["entropy"], t),
    "grayscale": lambda s, t: health.grayscale(s["colorfulness"], t),
    "odd_size": lambda s, t: health.odd_size(s["width"], s["height"], t),
    "odd_aspect_ratio": lambda s, t: health.odd_aspect_ratio(s["width"], s["height"], t),
}
NUMERIC_STATISTICS = ("brightness_p1", "brightness_p99", "sharpness", "entropy", "colorfulness", "width", "height")


def _result(is_issue, score, rows, n, details=None, note="") -> CheckResult:
    return CheckResult(
        is_issue=spread(np.asarray(is_issue, bool), rows, n, False),
        score=spread(np.asarray(score, float), rows, n, np.nan),
        details={name: spread(values, rows, n) for name, values in (details or {}).items()},
        note=note,
    )


def health_checks(statistics: list[dict], rows: np.ndarray, n: int, checks: ChecksConfig) -> dict[str, CheckResult]:
    columns = {key: np.array([statistics[i][key] for i in rows], dtype=float) for key in NUMERIC_STATISTICS}
    results = {}
    for name, check in HEALTH_CHECKS.items():
        settings = getattr(checks, name)
        if not settings.enabled:
            continue
        is_issue, score = check(columns, settings.threshold)
        note = ""
        if health.common_to_the_dataset(is_issue, checks.max_prevalence):
            note = f"{is_issue.mean():.0%} of images have this property: it is the dataset's norm, so none is flagged"
            is_issue = np.zeros_like(is_issue)
        results[name] = _result(is_issue, score, rows, n, note=note)
    return results


def invalid_check(paths: Sequence[str], statistics: list[dict], rows: np.ndarray, n: int, checks: ChecksConfig) -> CheckResult:
    settings = checks.invalid
    reasons = [
        "; ".join(health.invalid_reasons(paths[i], statistics[i], max_pixels=settings.max_pixels,
                                         min_side=settings.min_side, max_side=settings.max_side))
        for i in rows
    ]
    flagged = np.array([bool(r) for r in reasons])
    return _result(flagged, (~flagged).astype(float), rows, n, {"invalid_reason": np.array(reasons, dtype=object)})


def duplicate_checks(
    statistics: list[dict], neighbors: Neighbors, labels: Sequence[str], splits: Sequence[str],
    rows: np.ndarray, n: int, checks: ChecksConfig,
) -> dict[str, CheckResult]:
    """exact_duplicate, near_duplicate, conflicting_duplicate and leakage over the readable `rows`."""
    results = {}
    if checks.exact_duplicate.enabled:
        exact = exact_duplicate_groups([statistics[i]["pixel_hash"] for i in rows])
        results["exact_duplicate"] = _result(exact >= 0, (exact < 0).astype(float), rows, n, {"exact_duplicate_group": exact})
    if not checks.near_duplicate.enabled:
        return results
    threshold = checks.near_duplicate.threshold
    group = near_duplicate_groups(neighbors, threshold)
    score = near_duplicate_score(neighbors, threshold)
    results["near_duplicate"] = _result(group >= 0, score, rows, n, {"near_duplicate_group": group})
    conflicting, conflict_score = close_pairs_that_differ(neighbors, threshold, np.asarray(labels, dtype=object)[rows])
    results["conflicting_duplicate"] = _result(conflicting, conflict_score, rows, n)
    split_values = np.asarray(splits, dtype=object)[rows]
    if len(set(split_values) - {""}) > 1:
        leaking, leak_score = close_pairs_that_differ(neighbors, threshold, split_values)
        results["leakage"] = _result(leaking, leak_score, rows, n)
    return results


def find_image_issues(
    paths: Sequence[str],
    statistics: list[dict],
    neighbors: Neighbors,
    readable: np.ndarray,
    labels: Sequence[str],
    splits: Sequence[str],
    checks: ChecksConfig,
) -> dict[str, CheckResult]:
    """Every enabled image-level check over N images; `neighbors` is the kNN graph of the readable ones
    (positions among them)."""
    rows = np.flatnonzero(readable)
    n = len(paths)
    results: dict[str, CheckResult] = {}
    if checks.invalid.enabled:
        results["invalid"] = invalid_check(paths, statistics, rows, n, checks)
    results.update(duplicate_checks(statistics, neighbors, labels, splits, rows, n, checks))
    if checks.outlier.enabled:
        entropy = np.array([statistics[i].get("prediction_entropy", np.nan) for i in rows], dtype=float)
        is_issue, score, z = outlier_scores(neighbors, entropy, checks.outlier.threshold)
        results["outlier"] = _result(is_issue, score, rows, n, {"outlier_z": np.round(z, 3)})
    results.update(health_checks(statistics, rows, n, checks))
    return results
