"""The review queue as plain tables: filtering, paging and progress from the queue and the current decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# A label flag whose decision is one of these was a real problem; `keep` means the flag was wrong.
CONFIRMING_ACTIONS = ("accept", "relabel", "remove")
STATUSES = ("undecided", "decided", "all")
SCOPES = {"review": "images needing review", "all": "every image"}
SORTS = {"review": "review order", "label_score": "label score, lowest first"}  # and "<type>_score": see `sorts`


@dataclass(frozen=True)
class QueueFilter:
    """What the page shows: which images (those needing review, or all), an issue type, a given class, a split,
    a (given, suggested) pair, a decision status, a label-score range, and the order."""

    issue_type: str = ""
    given: str = ""
    pair: str = ""  # "given→suggested"
    status: str = "undecided"
    scope: str = "review"
    split: str = ""
    sort: str = "review"
    min_score: float | None = None  # label score range (images without one are left out when a bound is set)
    max_score: float | None = None

    def query(self) -> dict[str, str]:
        """The non-default fields, for links that keep the filter."""
        return {k: v for k, v in vars(self).items() if v != getattr(QueueFilter, k)}


def with_decisions(queue: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The queue with each image's current `action` and `final_label` (None when undecided)."""
    where = pd.Index(queue["item_id"]).get_indexer(decisions["item_id"])
    found = where >= 0
    columns = {}
    for name, column in (("action", "action"), ("final_label", "label")):
        values = np.full(len(queue), None, dtype=object)
        given = decisions[column].astype(object)
        values[where[found]] = given.where(given.notna(), None).to_numpy(object)[found]
        columns[name] = pd.Series(values, index=queue.index, dtype=object)  # None, not NaN, when undecided
    return queue.assign(**columns)


def _pairs(table: pd.DataFrame) -> pd.Series:
    """The "given→suggested" name of each row."""
    return table["given_label"] + "→" + table["suggested_label"].astype(str)


def _has_issue(table: pd.DataFrame, issue_type: str) -> np.ndarray:
    """(N,) bool: the rows flagged with `issue_type` (the store's `is_<type>_issue` column; none without it)."""
    column = f"is_{issue_type}_issue"
    return table[column].to_numpy(bool) if column in table else np.zeros(len(table), dtype=bool)


def label_pairs(queue: pd.DataFrame) -> list[tuple[str, int]]:
    """(given→suggested, count) of flagged label issues, most frequent first."""
    flagged = queue[_has_issue(queue, "label")]
    counts = _pairs(flagged).value_counts()
    return list(counts.items())


def shown_rows(table: pd.DataFrame, selection: QueueFilter) -> np.ndarray:
    """Positions in `table` (the images with decisions, in review order) of the rows the filter shows, in its order
    (the table is not copied: the "all images" scope of a million-image run has a million rows)."""
    keep = np.ones(len(table), bool)
    if selection.scope != "all":
        keep &= table["needs_review"].to_numpy(bool)
    if selection.split:
        keep &= (table["split"].fillna("") == selection.split).to_numpy()
    scores = table["label_score"].to_numpy(float)
    if selection.min_score is not None:
        keep &= scores >= selection.min_score
    if selection.max_score is not None:
        keep &= scores <= selection.max_score
    if selection.issue_type:
        keep &= _has_issue(table, selection.issue_type)
    if selection.given:
        keep &= (table["given_label"] == selection.given).to_numpy()
    if selection.pair:
        keep &= (_pairs(table) == selection.pair).to_numpy(bool) & _has_issue(table, "label")
    if selection.status != "all":
        decided = table["action"].notna().to_numpy()
        keep &= decided if selection.status == "decided" else ~decided
    rows = np.flatnonzero(keep)
    if selection.sort != "review":  # lowest first, images without a score last (numpy sorts NaN last)
        rows = rows[np.argsort(table[selection.sort].to_numpy(float)[rows], kind="stable")]
    return rows


def sorts(scored_types: list[str]) -> dict[str, str]:
    """The orders the page offers: review order, label score, and each other issue type's score (`scored_types`)."""
    return {**SORTS, **{f"{name}_score": f"{name.replace('_', ' ')} score, lowest first" for name in scored_types}}


def page_of(rows: np.ndarray, page: int, page_size: int) -> tuple[np.ndarray, int]:
    """The `rows` (positions) of page `page` (1-based, clamped) and the number of pages."""
    pages = max(1, -(-len(rows) // page_size))
    page = min(max(page, 1), pages)
    return rows[(page - 1) * page_size : page * page_size], pages


def review_progress(table: pd.DataFrame) -> dict:
    """Reviewed / left of the images needing review, and per given class the share of decided label flags that
    were real errors (from whole columns: the table is not copied, a million images have 200,000 to review)."""
    scope = table["needs_review"].to_numpy(bool) if "needs_review" in table else np.ones(len(table), dtype=bool)
    decided = table["action"].notna().to_numpy(bool) & scope
    confirmed = table["action"].isin(CONFIRMING_ACTIONS).to_numpy(bool) & scope
    flags = _has_issue(table, "label") & scope
    per_class = []
    by_class = pd.DataFrame({"class": table["given_label"].to_numpy(object)[flags], "flagged": 1,
                             "reviewed": decided[flags], "real_errors": confirmed[flags]})
    for name, counts in by_class.groupby("class", sort=True).sum().iterrows():
        reviewed, real = int(counts["reviewed"]), int(counts["real_errors"])
        per_class.append({"class": name, "flagged": int(counts["flagged"]), "reviewed": reviewed, "real_errors": real,
                          "share_real": real / reviewed if reviewed else None})
    reviewed_flags = int((decided & flags).sum())
    return {
        "total": int(scope.sum()),
        "reviewed": int(decided.sum()),
        "left": int((scope & ~decided).sum()),
        "label_flags_reviewed": reviewed_flags,
        "share_real": float((confirmed & flags).sum() / reviewed_flags) if reviewed_flags else None,
        "per_class": per_class,
    }
