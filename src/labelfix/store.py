"""The run store (`labelfix.db`): items, labels, out-of-fold probabilities and issues in SQLite.

This is the one module that writes SQL for a run; the review page reads and writes through it.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.fileio import atomic_path

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
"""


def write_run_store(
    path: Path,
    manifest: Manifest,
    table: pd.DataFrame,
    pred_probs: np.ndarray,
    content_hashes: list[str | None],
    run_record: dict,
) -> None:
    """Write a complete store atomically. `table` is the issue table indexed by item; `pred_probs` (N, K), NaN rows unread."""
    with atomic_path(path) as temporary:
        temporary.unlink()
        with closing(sqlite3.connect(temporary)) as db, db:
            db.executescript(SCHEMA)
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


def health_issue_types(table: pd.DataFrame) -> list[str]:
    """Image-health issue types present in the table (`is_<type>_issue` columns other than label/unreadable)."""
    names = [c[3:-6] for c in table.columns if c.startswith("is_") and c.endswith("_issue")]
    return [name for name in names if name not in ("label", "unreadable")]


def _issue_rows(table: pd.DataFrame) -> list[tuple]:
    health = health_issue_types(table)
    rows = []
    for item_id, row in table.iterrows():
        if row["is_unreadable_issue"]:
            rows.append((item_id, "unreadable", 1, 0.0, None, json.dumps({"reason": row["unreadable_reason"]})))
            continue
        details = {
            "given_label_probability": row["given_label_probability"],
            "suggested_label_probability": row["suggested_label_probability"],
        }
        rows.append(
            (item_id, "label", int(row["is_label_issue"]), row["label_score"], row["suggested_label"], json.dumps(details))
        )
        rows.extend((item_id, name, int(row[f"is_{name}_issue"]), row[f"{name}_score"], None, None) for name in health)
    return rows


def read_issues(path: Path, issue_type: str = "label", only_flagged: bool = True) -> pd.DataFrame:
    """Issues of one type joined with their items, worst first."""
    query = (
        "SELECT items.item_id, items.path, items.split, issues.score, issues.is_issue, issues.suggested_label, "
        "issues.details FROM issues JOIN items USING (item_id) WHERE issue_type = ?"
        + (" AND is_issue = 1" if only_flagged else "")
        + " ORDER BY issues.score, items.item_id"
    )
    with closing(sqlite3.connect(path)) as db:
        return pd.read_sql_query(query, db, params=(issue_type,))
