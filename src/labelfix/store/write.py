"""Writing a run's store: items, labels, out-of-fold probabilities, issues and neighbours, all or nothing.

A first store is written to a temporary file and renamed into place. An existing one is rewritten in place, in
one SQLite transaction that also carries the earlier review decisions over (see `carry`): a review server with
the store open sees the old run or the new one, never a mix, and a decision it records while the scan writes
waits for the transaction and then finds the new `run_id`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.dataset.manifest import Manifest
from labelfix.features.neighbors import Neighbors
from labelfix.fileio import atomic_path, path_from_store, set_aside, stored_path
from labelfix.issues.table import issue_types
from labelfix.store.carry import Carried, carry_decisions
from labelfix.store.schema import DECISIONS_SCHEMA, SCHEMA, STORE_VERSION, statements

log = logging.getLogger(__name__)


def write_run_store(
    path: Path,
    manifest: Manifest,
    table: pd.DataFrame,
    pred_probs: np.ndarray,
    content_hashes: list[str | None],
    run_record: dict,
    neighbors: Neighbors | None = None,
) -> dict:
    """Write the run into the store at `path` (created, or rewritten with the decisions carried over); returns
    what happened to the earlier decisions (`Carried.summary`), which is also stored as the run record's
    `decisions_carried_over`. `table` is the issue table indexed by item; `pred_probs` (N, K), NaN rows
    unreadable; `neighbors` rows are the readable items in order, their indices item ids."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arguments = (manifest, table, pred_probs, content_hashes, run_record, neighbors)
    if not path.exists():
        return _write_new(path, *arguments)
    try:
        return _rewrite(path, *arguments)
    except sqlite3.OperationalError:
        raise  # locked, read-only, disk full: not the store's fault
    except sqlite3.DatabaseError as error:  # malformed, not a database
        _set_aside(path, error)
        return _rewrite(path, *arguments)


def _write_new(path: Path, *arguments) -> dict:
    """A first store: nothing can have it open yet, so a temporary file without a journal, renamed when whole."""
    with atomic_path(path) as temporary:
        temporary.unlink()
        db = sqlite3.connect(temporary, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute("BEGIN")
            summary = _fill(db, *arguments, carry_decisions([], set(), [], []), [])
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode = WAL")  # as every reader opens it (set now, the file never changes on open)
        finally:
            db.close()
    return summary


def _rewrite(path: Path, manifest: Manifest, table: pd.DataFrame, pred_probs: np.ndarray,
             content_hashes: list[str | None], run_record: dict, neighbors: Neighbors | None) -> dict:
    """An existing store, rewritten in place in one transaction (a review server may have it open)."""
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")  # a review server's writes wait for this transaction, then see the new run_id
        earlier, dropped_before, old_paths = _earlier_decisions(db)
        carried = carry_decisions(earlier, old_paths, [item.path for item in manifest.items], content_hashes)
        for name in _tables(db):
            db.execute(f'DROP TABLE "{name}"')
        summary = _fill(db, manifest, table, pred_probs, content_hashes, run_record, neighbors, carried, dropped_before)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # best effort: a reader may keep part of the log a while
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
    return summary


def _fill(db: sqlite3.Connection, manifest: Manifest, table: pd.DataFrame, pred_probs: np.ndarray,
          content_hashes: list[str | None], run_record: dict, neighbors: Neighbors | None, carried: Carried,
          dropped_before: list[tuple]) -> dict:
    """Create the tables and insert the run, inside the caller's transaction; returns the carried-over summary.
    The run's indexes are built after its rows are in (one sort instead of an index update per row)."""
    run_indexes = [statement for statement in statements(SCHEMA) if statement.startswith("CREATE INDEX")]
    for statement in statements(SCHEMA + DECISIONS_SCHEMA):
        if statement not in run_indexes:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {STORE_VERSION}")
    record = {**run_record, "decisions_carried_over": carried.summary()}
    db.executemany("INSERT INTO run VALUES (?, ?)", [(k, json.dumps(v, default=str)) for k, v in record.items()])
    db.executemany("INSERT INTO classes VALUES (?, ?)", list(enumerate(manifest.classes)))
    by_item = table.assign(review_rank=np.arange(len(table))).sort_index()
    # rows are generated as SQLite takes them: a million images never sit in memory as Python tuples
    db.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (i, stored_path(item.path), item.split, content_hashes[i], fold, needs_review, rank, score)
            for (i, item), fold, needs_review, rank, score in zip(
                enumerate(manifest.items), _numbers_or_none(by_item["fold"], int), by_item["needs_review"].astype(int).tolist(),
                by_item["review_rank"].tolist(), _numbers_or_none(by_item["review_score"]))
        ),
    )
    db.executemany(
        "INSERT INTO labels VALUES (?, ?)",
        ((i, label) for i, item in enumerate(manifest.items) for label in item.labels),
    )
    db.executemany("INSERT INTO probabilities VALUES (?, ?)", _probability_rows(pred_probs))
    db.executemany("INSERT INTO issues VALUES (?, ?, ?, ?, ?, ?)", _issue_rows(by_item))
    readable_items = by_item.index.to_numpy()[~by_item["is_unreadable_issue"].to_numpy(bool)]
    db.executemany("INSERT INTO neighbors VALUES (?, ?, ?, ?)", _neighbor_rows(neighbors, readable_items))
    db.executemany(
        "INSERT INTO decisions (item_id, action, label, reviewer, decided_at, undone_at) VALUES (?, ?, ?, ?, ?, ?)",
        carried.rows,
    )
    db.executemany("INSERT INTO dropped_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   dropped_before + [(stored_path(row[0]), *row[1:]) for row in carried.dropped])
    for statement in run_indexes:
        db.execute(statement)
    return record["decisions_carried_over"]


def _numbers_or_none(column: pd.Series, kind: type = float) -> list:
    """The column's values as Python `kind` (int or float), None where missing (NaN, pd.NA)."""
    return [None if value != value else kind(value) for value in column.to_numpy(float, na_value=np.nan).tolist()]


def _probability_rows(pred_probs: np.ndarray, chunk: int = 10_000) -> Iterator[tuple[int, str]]:
    """(item_id, JSON list of the probabilities to 6 decimals) of every readable image (no NaN), a chunk of
    rows rounded at a time."""
    for start in range(0, len(pred_probs), chunk):
        part = pred_probs[start : start + chunk]
        readable = ~np.isnan(part).any(axis=1)
        for i, row in zip((start + np.flatnonzero(readable)).tolist(), np.round(part[readable], 6).tolist()):
            yield i, json.dumps(row)


def _set_aside(path: Path, error: Exception) -> None:
    broken = set_aside(path)
    log.warning("the run store %s could not be read (%s); it was moved to %s and a new one written "
                "(review decisions in it are not carried over)", path, error, broken)


def _tables(db: sqlite3.Connection) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]


def _earlier_decisions(db: sqlite3.Connection) -> tuple[list[tuple], list[tuple], set[str]]:
    """The store's decisions as (path, content_hash, action, label, reviewer, decided_at, undone_at), oldest
    first; its dropped decisions as stored; and the paths of all its images. Empty for a new store."""
    tables = set(_tables(db))
    if not {"decisions", "items"} <= tables:
        return [], [], set()
    columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
    content_hash = "i.content_hash" if "content_hash" in columns else "NULL"
    earlier = [
        (path_from_store(path), *rest) for path, *rest in db.execute(
            f"SELECT i.path, {content_hash}, d.action, d.label, d.reviewer, d.decided_at, d.undone_at "
            "FROM decisions d JOIN items i USING (item_id) ORDER BY d.decision_id")
    ]
    dropped = list(db.execute("SELECT * FROM dropped_decisions")) if "dropped_decisions" in tables else []
    old_paths = {path_from_store(path) for (path,) in db.execute("SELECT path FROM items")}
    return earlier, dropped, old_paths


# Extra columns stored as an issue's details (JSON), by issue type.
DETAIL_COLUMNS = {
    "label": ("given_label_probability", "suggested_label_probability",  # single-label
              "suggested_labels", "missing_labels", "extra_labels"),  # multi-label
    "unreadable": ("unreadable_reason",),
    "invalid": ("invalid_reason",),
    "exact_duplicate": ("exact_duplicate_group",),
    "near_duplicate": ("near_duplicate_group",),
    "conflicting_duplicate": ("near_duplicate_group",),
    "leakage": ("near_duplicate_group",),
    "outlier": ("outlier_z",),
}


def _issue_rows(table: pd.DataFrame) -> Iterator[tuple]:
    """(item_id, type, is_issue, score, suggested_label, details) for every type that applies to an image."""
    item_ids = table.index.to_numpy()
    for name in issue_types(table):
        flags = table[f"is_{name}_issue"].to_numpy(bool)
        scores = table[f"{name}_score"].to_numpy(float) if f"{name}_score" in table else np.where(flags, 0.0, np.nan)
        applies = flags | np.isfinite(scores)
        suggested = (table["suggested_label"].to_numpy(object)[applies] if name == "label" and "suggested_label" in table
                     else [None] * int(applies.sum()))  # a multi-label suggestion is a set, in the details
        columns = [c for c in DETAIL_COLUMNS.get(name, ()) if c in table]
        details = _json_records(table.loc[applies, columns]) if columns else [None] * int(applies.sum())
        yield from zip(item_ids[applies].tolist(), [name] * len(details), flags[applies].astype(int).tolist(),
                       np.where(np.isnan(scores), None, scores)[applies].tolist(), suggested, details)


def _json_records(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row (NaN as null)."""
    return frame.to_json(orient="records", lines=True, double_precision=15).splitlines()


def _neighbor_rows(neighbors: Neighbors | None, items: np.ndarray, chunk: int = 10_000) -> Iterator[tuple]:
    if neighbors is None:
        return
    k = neighbors.indices.shape[1]
    for start in range(0, len(items), chunk):
        part = slice(start, start + chunk)
        yield from zip(np.repeat(items[part], k).tolist(), np.tile(np.arange(k), len(items[part])).tolist(),
                       neighbors.indices[part].ravel().tolist(), neighbors.distances[part].ravel().astype(float).tolist())
