"""Applying review decisions: the run's images, suggestions and decisions → the cleaned dataset (pure values).

Rules, in order, for each image:
1. a current review decision wins: `keep` the given label, `accept` or `relabel` to its label, `remove`;
2. an unreadable image is left out (`keep_unreadable=True` keeps it with its given label);
3. an undecided flagged label issue takes its suggested label when `accept_suggestions_above` is given and
   the suggested label's probability is at least that; in a multi-label run each flagged entry on its own: a
   label probably missing is added, one probably extra removed, when the model's probability of that is at
   least the threshold;
4. otherwise the given label stays.

A multi-label image's labels are a sorted tuple of class names wherever a single-label image has one name.

Where images go lives in `layout`, the file writing in `copy` and `in_place`; nothing here touches the disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import pandas as pd

CHANGE_COLUMNS = ("path", "action", "given_label", "final_label", "source", "reviewer", "decided_at")


Labels = str | tuple[str, ...]  # one class, or a multi-label image's sorted set


@dataclass(frozen=True)
class RunItem:
    """One image of the scan. `suggested_label` is set only where the scan flagged a label issue; a multi-label
    image's `suggested_changes` are its flagged entries: (class, present, probability of that)."""

    item_id: int
    path: str
    given_label: Labels
    split: str | None = None
    suggested_label: Labels | None = None
    suggested_probability: float | None = None
    unreadable: bool = False
    suggested_changes: tuple[tuple[str, bool, float], ...] = ()


@dataclass(frozen=True)
class Decision:
    """A reviewer's current decision on one image; `label` is set for accept and relabel."""

    action: str
    label: str | None
    reviewer: str
    decided_at: str


@dataclass(frozen=True)
class KeptImage:
    """An image of the cleaned dataset with its final label."""

    item_id: int
    path: str
    label: Labels
    split: str | None = None


@dataclass(frozen=True)
class Change:
    """A relabel or removal. `action`: accept, relabel or remove; `source`: review, suggestion or unreadable."""

    path: str
    action: str
    given_label: Labels
    final_label: Labels | None
    source: str
    reviewer: str | None = None
    decided_at: str | None = None


@dataclass(frozen=True)
class CleanedDataset:
    kept: tuple[KeptImage, ...]
    changes: tuple[Change, ...]
    undecided: tuple[RunItem, ...] = ()  # flagged label issues nobody decided on that kept their given label

    def counts(self) -> dict[str, int]:
        relabels = [c for c in self.changes if c.final_label is not None]
        removals = [c for c in self.changes if c.final_label is None]
        return {
            "kept": len(self.kept),
            "relabelled_by_review": sum(c.source == "review" for c in relabels),
            "relabelled_by_suggestion": sum(c.source == "suggestion" for c in relabels),
            "removed_by_review": sum(c.source == "review" for c in removals),
            "unreadable_dropped": sum(c.source == "unreadable" for c in removals),
            "flags_left_undecided": len(self.undecided),
        }

    def undecided_note(self, run_dir: object, probability: float = 0.9) -> str | None:
        """What to say when flags were left undecided (None when there are none)."""
        if not self.undecided:
            return None
        confident = sum(_suggestion(item, probability) is not None for item in self.undecided)
        return (f"{len(self.undecided)} flagged images were not reviewed and keep their given labels: review them "
                f"(labelfix review {run_dir}), or take the suggestions of the confident ones with "
                f"--accept-suggestions-above {probability} ({confident} of them)")

    def changes_table(self) -> pd.DataFrame:
        """One row per change; label sets as JSON lists."""
        rows = [{k: json.dumps(list(v), ensure_ascii=False) if isinstance(v, tuple) else v for k, v in asdict(c).items()}
                for c in self.changes]
        return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))


def clean_dataset(
    items: Iterable[RunItem],
    decisions: Mapping[int, Decision],
    *,
    accept_suggestions_above: float | None = None,
    keep_unreadable: bool = False,
) -> CleanedDataset:
    """The kept images (in item order) with final labels, and every relabel and removal."""
    kept, changes, undecided = [], [], []
    for item in items:
        decision = decisions.get(item.item_id)
        label, change = _outcome(item, decision, accept_suggestions_above, keep_unreadable)
        if label is not None:
            kept.append(KeptImage(item.item_id, item.path, label, item.split))
        if change is not None:
            changes.append(change)
        elif decision is None and item.suggested_label is not None and label is not None:
            undecided.append(item)
    return CleanedDataset(tuple(kept), tuple(changes), tuple(undecided))


def _outcome(item: RunItem, decision: Decision | None, threshold: float | None,
             keep_unreadable: bool) -> tuple[str | None, Change | None]:
    """(final label or None when left out, the change or None)."""
    if decision is not None:
        return _reviewed(item, decision)
    if item.unreadable and not keep_unreadable:
        return None, Change(item.path, "remove", item.given_label, None, "unreadable")
    suggestion = _suggestion(item, threshold)
    if suggestion is not None:
        return suggestion, Change(item.path, "accept", item.given_label, suggestion, "suggestion")
    return item.given_label, None


def _reviewed(item: RunItem, decision: Decision) -> tuple[str | None, Change | None]:
    label = {"remove": None, "keep": item.given_label}.get(decision.action, decision.label)
    if label == item.given_label:
        return label, None
    return label, Change(item.path, decision.action, item.given_label, label, "review", decision.reviewer,
                         decision.decided_at)


def _suggestion(item: RunItem, threshold: float | None) -> Labels | None:
    """The label (or set) the suggestions give at `threshold`, or None when they change nothing."""
    if threshold is None or item.suggested_label is None:
        return None
    if item.suggested_changes:
        final = with_changes(item.given_label, item.suggested_changes, threshold)
        return final if final != item.given_label else None
    confident = item.suggested_probability is not None and item.suggested_probability >= threshold
    return item.suggested_label if confident and item.suggested_label != item.given_label else None


def with_changes(given: tuple[str, ...], changes: tuple[tuple[str, bool, float], ...],
                 threshold: float = 0.0) -> tuple[str, ...]:
    """A label set with the flagged entries whose probability reaches `threshold` flipped: a probably missing
    class added, a probably extra one dropped (sorted)."""
    labels = set(given)
    for name, present, probability in changes:
        if probability >= threshold:
            labels = labels | {name} if present else labels - {name}
    return tuple(sorted(labels))


def decisions_by_item(table: pd.DataFrame) -> dict[int, Decision]:
    """`store.current_decisions` rows → {item_id: Decision}."""
    return {
        int(row.item_id): Decision(row.action, None if pd.isna(row.label) else row.label, row.reviewer, row.decided_at)
        for row in table.itertuples()
    }
