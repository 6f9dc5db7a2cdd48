"""The run store (`labelfix.db`): items, labels, out-of-fold probabilities and issues in SQLite.

This is the one module that writes SQL for a run; the review page reads and writes through it.
Review decisions are an append-only log (`decisions`): the current decision of an image is its latest row
that was not undone, so two browser tabs never overwrite each other, and a re-scan into the same run folder
keeps the decisions of the images it still has.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.errors import LabelfixError
from labelfix.fileio import atomic_path
from labelfix.issues.neighbors import Neighbors

SCHEMA = """
CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (class_index INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE items (
    item_id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    split TEXT,
    content_hash TEXT,
    fold INTEGER
);
CREATE TABLE labels (item_id INTEGER NOT NULL REFERENCES items, label TEXT NOT NULL, PRIMARY KEY (item_id, label));
CREATE TABLE probabilities (item_id INTEGER PRIMARY KEY REFERENCES items, probabilities TEXT NOT NULL);
CREATE TABLE issues (
    item_id INTEGER NOT NULL REFERENCES items,
    issue_type TEXT NOT NULL,
    is_issue INTEGER NOT NULL,
    score REAL,
    suggested_label TEXT,
    details TEXT,
    PRIMARY KEY (item_id, issue_type)
);
CREATE INDEX issues_by_type ON issues (issue_type, is_issue, score);
CREATE TABLE neighbors (
    item_id INTEGER NOT NULL REFERENCES items,
    rank INTEGER NOT NULL,
    neighbor_id INTEGER NOT NULL REFERENCES items,
    distance REAL NOT NULL,
    PRIMARY KEY (item_id, rank)
);
"""

ACTIONS = ("accept", "keep", "relabel", "remove")  # accept: take the suggested label; keep: the given one

DECISIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items,
    action TEXT NOT NULL CHECK (action IN ('accept', 'keep', 'relabel', 'remove')),
    label TEXT,
    reviewer TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    undone_at TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_item ON decisions (item_id, decision_id);
"""

STORE_FILE = "labelfix.db"


def write_run_store(
    path: Path,
    manifest: Manifest,
    table: pd.DataFrame,
    pred_probs: np.ndarray,
    content_hashes: list[str | None],
    run_record: dict,
    neighbors: Neighbors | None = None,
) -> None:
    """Write a complete store atomically. `table` is the issue table indexed by item; `pred_probs` (N, K), NaN
    rows unreadable; `neighbors` rows are the readable items in order, their indices item ids."""
    earlier_decisions = _decisions_by_path(path)
    with atomic_path(path) as temporary:
        temporary.unlink()
        with closing(sqlite3.connect(temporary)) as db, db:
            db.executescript(SCHEMA + DECISIONS_SCHEMA)
            db.executemany("INSERT INTO run VALUES (?, ?)", [(k, json.dumps(v, default=str)) for k, v in run_record.items()])
            db.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(manifest.classes)))
            by_item = table.sort_index()
            db.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
                [
                    (i, item.path, item.split, content_hashes[i], None if pd.isna(fold) else int(fold))
                    for (i, item), fold in zip(enumerate(manifest.items), by_item["fold"])
                ],
            )
            db.executemany(
                "INSERT INTO labels VALUES (?, ?)",
                [(i, label) for i, item in enumerate(manifest.items) for label in item.labels],
            )
            db.executemany(
                "INSERT INTO probabilities VALUES (?, ?)",
                [(i, json.dumps(np.round(row, 6).tolist())) for i, row in enumerate(pred_probs) if not np.isnan(row).any()],
            )
            db.executemany("INSERT INTO issues VALUES (?, ?, ?, ?, ?, ?)", _issue_rows(by_item))
            readable_items = by_item.index.to_numpy()[~by_item["is_unreadable_issue"].to_numpy(bool)]
            db.executemany("INSERT INTO neighbors VALUES (?, ?, ?, ?)", _neighbor_rows(neighbors, readable_items))
            item_ids = {item.path: i for i, item in enumerate(manifest.items)}
            db.executemany(
                "INSERT INTO decisions (item_id, action, label, reviewer, decided_at, undone_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(item_ids[row[0]], *row[1:]) for row in earlier_decisions if row[0] in item_ids],
            )
    for stale in (f"{path}-wal", f"{path}-shm"):  # the replaced store's write-ahead log must not touch the new one
        Path(stale).unlink(missing_ok=True)


# Extra columns stored as an issue's details (JSON), by issue type.
DETAIL_COLUMNS = {
    "label": ("given_label_probability", "suggested_label_probability"),
    "unreadable": ("unreadable_reason",),
    "invalid": ("invalid_reason",),
    "exact_duplicate": ("exact_duplicate_group",),
    "near_duplicate": ("near_duplicate_group",),
    "conflicting_duplicate": ("near_duplicate_group",),
    "leakage": ("near_duplicate_group",),
    "outlier": ("outlier_z",),
}


def issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types present in the table, from its `is_<type>_issue` columns."""
    return [c[3:-6] for c in table.columns if c.startswith("is_") and c.endswith("_issue")]


def health_issue_types(table: pd.DataFrame) -> list[str]:
    """Issue types other than label and unreadable."""
    return [name for name in issue_types(table) if name not in ("label", "unreadable")]


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _issue_rows(table: pd.DataFrame) -> list[tuple]:
    """(item_id, type, is_issue, score, suggested_label, details) for every type that applies to an image."""
    rows = []
    item_ids = table.index.to_numpy()
    for name in issue_types(table):
        flags = table[f"is_{name}_issue"].to_numpy(bool)
        scores = table[f"{name}_score"].to_numpy(float) if f"{name}_score" in table else np.where(flags, 0.0, np.nan)
        suggested = table["suggested_label"].to_numpy(object) if name == "label" else np.full(len(table), None)
        columns = [c for c in DETAIL_COLUMNS.get(name, ()) if c in table]
        details = table[columns].to_dict("records") if columns else [None] * len(table)
        for item_id, flag, score, suggestion, detail in zip(item_ids, flags, scores, suggested, details):
            if flag or np.isfinite(score):
                detail_json = json.dumps({k: _plain(v) for k, v in detail.items()}, default=str) if detail else None
                rows.append((int(item_id), name, int(flag), None if np.isnan(score) else float(score), suggestion, detail_json))
    return rows


def _neighbor_rows(neighbors: Neighbors | None, items: np.ndarray) -> list[tuple]:
    if neighbors is None:
        return []
    return [
        (int(items[row]), rank, int(neighbor), float(distance))
        for row, (indices, distances) in enumerate(zip(neighbors.indices, neighbors.distances))
        for rank, (neighbor, distance) in enumerate(zip(indices, distances))
    ]


def _decisions_by_path(path: Path) -> list[tuple]:
    """Decisions of an existing store, keyed by image path (so a re-scan can keep them)."""
    if not Path(path).exists():
        return []
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'decisions'").fetchone():
            return []
        return db.execute(
            "SELECT path, action, label, reviewer, decided_at, undone_at FROM decisions JOIN items USING (item_id) "
            "ORDER BY decision_id"
        ).fetchall()


def open_store(run_dir: Path) -> sqlite3.Connection:
    """Connect to a run's store for reading and recording decisions (WAL: readers never block the writer)."""
    path = Path(run_dir) / STORE_FILE
    if not path.is_file():
        raise LabelfixError(f"{run_dir}: no {STORE_FILE} here; give the folder that `labelfix scan --out` wrote")
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA busy_timeout = 30000")
    db.executescript(DECISIONS_SCHEMA)
    return db


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def record_decisions(db: sqlite3.Connection, decisions: list[tuple[int, str, str | None]], reviewer: str) -> str:
    """Append (item_id, action, label) decisions in one transaction; returns their timestamp.

    `label` is the final label for accept and relabel, None for keep and remove.
    """
    for item_id, action, label in decisions:
        if action not in ACTIONS:
            raise LabelfixError(f"unknown decision '{action}' for item {item_id}; one of {', '.join(ACTIONS)}")
        if action in ("accept", "relabel") and not label:
            raise LabelfixError(f"decision '{action}' for item {item_id} needs a label")
    at = _now()
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO decisions (item_id, action, label, reviewer, decided_at) VALUES (?, ?, ?, ?, ?)",
            [(int(item_id), action, label if action in ("accept", "relabel") else None, reviewer, at)
             for item_id, action, label in decisions],
        )
    return at


def undo_decision(db: sqlite3.Connection, item_id: int) -> bool:
    """Undo the current decision of an image (the one before it, if any, becomes current again)."""
    with db:
        db.execute("BEGIN IMMEDIATE")
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


def read_run_value(db: sqlite3.Connection, key: str) -> object | None:
    """A value of the run record (`dataset`, `config`, ...), or None."""
    row = db.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


ITEMS_WITH_SUGGESTIONS = """
SELECT i.item_id, i.path, i.split, i.content_hash,
       (SELECT MIN(l.label) FROM labels l WHERE l.item_id = i.item_id) AS given_label,
       COALESCE(label_issue.is_issue, 0) AS is_label_issue, label_issue.suggested_label, label_issue.details,
       COALESCE(unreadable.is_issue, 0) AS is_unreadable
FROM items i
LEFT JOIN issues label_issue ON label_issue.item_id = i.item_id AND label_issue.issue_type = 'label'
LEFT JOIN issues unreadable ON unreadable.item_id = i.item_id AND unreadable.issue_type = 'unreadable'
ORDER BY i.item_id
"""


def items_with_suggestions(db: sqlite3.Connection) -> pd.DataFrame:
    """Every image: item_id, path, split, content_hash, given_label, is_label_issue, suggested_label,
    suggested_label_probability (of a flagged label issue, else None), is_unreadable."""
    rows = []
    for row in db.execute(ITEMS_WITH_SUGGESTIONS).fetchall():
        record = dict(row)
        details = json.loads(record.pop("details") or "{}")
        flagged = bool(record["is_label_issue"])
        record.update(
            is_label_issue=flagged,
            is_unreadable=bool(record["is_unreadable"]),
            suggested_label=record["suggested_label"] if flagged else None,
            suggested_label_probability=details.get("suggested_label_probability") if flagged else None,
        )
        rows.append(record)
    columns = ["item_id", "path", "split", "content_hash", "given_label", "is_label_issue", "suggested_label",
               "suggested_label_probability", "is_unreadable"]
    return pd.DataFrame(rows, columns=columns, dtype=object).astype({"item_id": int})
