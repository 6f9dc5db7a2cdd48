"""Writing a run's store: items, labels, out-of-fold probabilities, issues and neighbours, atomically."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.features.neighbors import Neighbors
from labelfix.fileio import atomic_path
from labelfix.issues.table import issue_types
from labelfix.store.schema import DECISIONS_SCHEMA, SCHEMA, STORE_VERSION


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
            db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")  # a temporary file: renamed when whole
            db.executescript(SCHEMA + DECISIONS_SCHEMA)
            db.execute(f"PRAGMA user_version = {STORE_VERSION}")
            db.executemany("INSERT INTO run VALUES (?, ?)", [(k, json.dumps(v, default=str)) for k, v in run_record.items()])
            db.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(manifest.classes)))
            by_item = table.assign(review_rank=np.arange(len(table))).sort_index()
            db.executemany(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (i, item.path, item.split, content_hashes[i], None if pd.isna(row.fold) else int(row.fold),
                     int(row.needs_review), int(row.review_rank), None if pd.isna(row.review_score) else float(row.review_score))
                    for (i, item), row in zip(enumerate(manifest.items), by_item.itertuples())
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


def _issue_rows(table: pd.DataFrame) -> list[tuple]:
    """(item_id, type, is_issue, score, suggested_label, details) for every type that applies to an image."""
    rows = []
    item_ids = table.index.to_numpy()
    for name in issue_types(table):
        flags = table[f"is_{name}_issue"].to_numpy(bool)
        scores = table[f"{name}_score"].to_numpy(float) if f"{name}_score" in table else np.where(flags, 0.0, np.nan)
        applies = flags | np.isfinite(scores)
        suggested = table["suggested_label"].to_numpy(object)[applies] if name == "label" else [None] * int(applies.sum())
        columns = [c for c in DETAIL_COLUMNS.get(name, ()) if c in table]
        details = _json_records(table.loc[applies, columns]) if columns else [None] * int(applies.sum())
        rows += zip(item_ids[applies].tolist(), [name] * len(details), flags[applies].astype(int).tolist(),
                    np.where(np.isnan(scores), None, scores)[applies].tolist(), suggested, details)
    return rows


def _json_records(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row (NaN as null)."""
    return frame.to_json(orient="records", lines=True, double_precision=15).splitlines()


def _neighbor_rows(neighbors: Neighbors | None, items: np.ndarray) -> list[tuple]:
    if neighbors is None:
        return []
    n, k = neighbors.indices.shape
    return list(zip(np.repeat(items, k).tolist(), np.tile(np.arange(k), n).tolist(),
                    neighbors.indices.ravel().tolist(), neighbors.distances.ravel().astype(float).tolist()))


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
