"""Review decisions: an append-only log; an image's current decision is its latest row not undone."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pandas as pd

from labelfix.errors import LabelfixError
from labelfix.store.queries import current_run_id

ACTIONS = ("accept", "keep", "relabel", "remove")  # accept: take the suggested label; keep: the given one


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunReplaced(LabelfixError):
    """The store holds another scan than the one the decision was made on (the run was scanned again)."""


def _same_run(db: sqlite3.Connection, run_id: str | None) -> None:
    if run_id is not None and current_run_id(db) != run_id:
        raise RunReplaced("the run was scanned again since these images were shown; reload to see the new scan "
                          "(decisions made before it are carried over)")


def record_decisions(db: sqlite3.Connection, decisions: list[tuple[int, str, str | None]], reviewer: str, *,
                     run_id: str | None = None) -> str:
    """Append (item_id, action, label) decisions in one transaction; returns their timestamp.

    `label` is the final label for accept and relabel, None for keep and remove. With `run_id`, nothing is
    stored (RunReplaced) unless the store still holds that scan: item ids belong to one scan.
    """
    for item_id, action, label in decisions:
        if action not in ACTIONS:
            raise LabelfixError(f"unknown decision '{action}' for item {item_id}; one of {', '.join(ACTIONS)}")
        if action in ("accept", "relabel") and not label:
            raise LabelfixError(f"decision '{action}' for item {item_id} needs a label")
    at = _now()
    with db:
        db.execute("BEGIN IMMEDIATE")
        _same_run(db, run_id)
        db.executemany(
            "INSERT INTO decisions (item_id, action, label, reviewer, decided_at) VALUES (?, ?, ?, ?, ?)",
            [(int(item_id), action, label if action in ("accept", "relabel") else None, reviewer, at)
             for item_id, action, label in decisions],
        )
    return at


def undo_decision(db: sqlite3.Connection, item_id: int, *, run_id: str | None = None) -> bool:
    """Undo the current decision of an image (the one before it, if any, becomes current again); `run_id` as
    for `record_decisions`."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        _same_run(db, run_id)
        cursor = db.execute(
            "UPDATE decisions SET undone_at = ? WHERE decision_id = (SELECT MAX(decision_id) FROM decisions "
            "WHERE item_id = ? AND undone_at IS NULL)",
            (_now(), int(item_id)),
        )
    return cursor.rowcount == 1


CURRENT_DECISIONS = """
SELECT d.item_id, d.action, d.label, d.reviewer, d.decided_at FROM decisions d
JOIN (SELECT item_id, MAX(decision_id) AS decision_id FROM decisions WHERE undone_at IS NULL GROUP BY item_id)
USING (item_id, decision_id)
"""


def current_decisions(db: sqlite3.Connection) -> pd.DataFrame:
    """The current decision of every decided image: item_id, action, label, reviewer, decided_at."""
    rows = db.execute(CURRENT_DECISIONS + " ORDER BY d.item_id").fetchall()
    columns = ["item_id", "action", "label", "reviewer", "decided_at"]
    return pd.DataFrame([tuple(row) for row in rows], columns=columns, dtype=object).astype({"item_id": int})
