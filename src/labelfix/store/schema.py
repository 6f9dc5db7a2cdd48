"""The run store's tables, its version, and opening it: the compatibility policy lives here.

Every store records STORE_VERSION in SQLite's `user_version`. A store of another version is refused with a
message that says what to do: an older one is re-scanned into the same folder (embeddings come from the cache;
review decisions are carried over by image path and content), a newer one needs a newer labelfix. Any change to
the tables bumps STORE_VERSION. The decisions table only ever gains columns, so a re-scan can always carry
decisions over.

A scan rewrites the store in one transaction (see `write`), so a review server open on it sees the old run or
the new one, never a mix; every scan has its own `run_id` (in the `run` table and run.json), which the review
page sends with each write and the server compares.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from labelfix.errors import LabelfixError
from labelfix.store.queries import current_run_id

STORE_FILE = "labelfix.db"
STORE_VERSION = 2  # 0: before versioning; 1: items.review_rank; 2: run_id, dropped_decisions, raw paths as BLOB

SCHEMA = """
CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (class_index INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE items (
    item_id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    split TEXT,
    content_hash TEXT,
    fold INTEGER,
    needs_review INTEGER NOT NULL DEFAULT 0,
    review_rank INTEGER NOT NULL,  -- position in the review order (issues.csv order), 0 = look first
    review_score REAL
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
CREATE TABLE IF NOT EXISTS dropped_decisions (  -- decisions of earlier scans whose image changed or vanished
    path TEXT NOT NULL,
    content_hash TEXT,
    reason TEXT NOT NULL CHECK (reason IN ('changed', 'vanished')),
    action TEXT NOT NULL,
    label TEXT,
    reviewer TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    undone_at TEXT
);
"""


def statements(script: str) -> list[str]:
    """The statements of a schema script, to run one by one inside a transaction (`executescript` commits first)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def open_store(run_dir: Path) -> sqlite3.Connection:
    """Connect to a run's store for reading and recording decisions (WAL: readers never block the writer)."""
    path = Path(run_dir) / STORE_FILE
    if not path.is_file():
        raise LabelfixError(f"{run_dir}: no {STORE_FILE} here; give the folder that `labelfix scan --out` wrote")
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    version = stored_version(db)
    if version != STORE_VERSION:
        db.close()
        if version > STORE_VERSION:
            raise LabelfixError(f"{path} was written by a newer labelfix (store version {version}, this one reads "
                                f"{STORE_VERSION}); upgrade labelfix (pip install -U labelfix)")
        raise LabelfixError(f"{path} was written by an older labelfix; run the same `labelfix scan` again into "
                            f"{run_dir} (embeddings come from the cache; review decisions are kept)")
    try:
        _check_complete(Path(run_dir), db)
    except LabelfixError:
        db.close()
        raise
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA busy_timeout = 30000")
    db.executescript(DECISIONS_SCHEMA)
    return db


def _check_complete(run_dir: Path, db: sqlite3.Connection) -> None:
    """A scan writes run.json last, with its run_id: a run folder whose run.json is missing or names another scan
    than the store is one a scan stopped writing."""
    stored = current_run_id(db)
    try:
        written = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError):
        written = None
    if stored is None or stored != written:
        raise LabelfixError(f"{run_dir}: the run folder is incomplete (a scan into it stopped before it finished "
                            "writing); run the same `labelfix scan` again (embeddings come from the cache; review "
                            "decisions are kept)")


def stored_version(db: sqlite3.Connection) -> int:
    """The store's version: its user_version, or 1 for the stores of version 1 written before it was recorded."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == 0 and "review_rank" in {row[1] for row in db.execute("PRAGMA table_info(items)")}:
        return 1
    return version
