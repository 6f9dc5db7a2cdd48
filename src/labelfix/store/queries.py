"""Reading a run's store: the run record, classes, the review queue, one image's evidence, items for apply."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd

from labelfix.fileio import path_from_store


def read_run_record(db: sqlite3.Connection) -> dict:
    """The run record (run.json) as stored with the run."""
    return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM run")}


def current_run_id(db: sqlite3.Connection) -> str | None:
    """The id of the scan the store holds (None for a store without one)."""
    row = db.execute("SELECT value FROM run WHERE key = 'run_id'").fetchone()
    return json.loads(row[0]) if row else None


def read_classes(db: sqlite3.Connection) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM classes ORDER BY class_index")]


REVIEW_QUEUE = """
SELECT i.item_id, i.path, i.content_hash, i.split, i.fold, i.needs_review, i.review_rank, i.review_score,
       (SELECT json_group_array(label) FROM labels l WHERE l.item_id = i.item_id) AS given_labels,
       li.suggested_label, li.score AS label_score, li.details AS label_details
FROM items i LEFT JOIN issues li ON li.item_id = i.item_id AND li.issue_type = 'label'
WHERE i.needs_review OR ? ORDER BY i.review_rank
"""
QUEUE_COLUMNS = ["item_id", "path", "content_hash", "split", "fold", "needs_review", "review_rank", "review_score",
                 "given_label", "given_labels", "issue_types", "suggested_label", "suggested_labels", "label_score",
                 "given_label_probability", "suggested_label_probability"]
# the distinct issue types, one index lookup each (a loose index scan over issues_by_type)
ISSUE_TYPES = """
WITH RECURSIVE types(name) AS (
    SELECT MIN(issue_type) FROM issues
    UNION ALL SELECT (SELECT MIN(issue_type) FROM issues WHERE issue_type > types.name) FROM types WHERE name IS NOT NULL
) SELECT name FROM types WHERE name IS NOT NULL
"""


def review_queue(db: sqlite3.Connection, *, everything: bool = False) -> pd.DataFrame:
    """Every image that needs review (with `everything`, every image), in review order: item_id, path, content_hash,
    split, fold, needs_review, given_label, given_labels (sorted list), issue_types (list), suggested_label (the
    classifier's top class), suggested_labels (a multi-label run's suggested set, else None), label_score,
    given/suggested_label_probability, and `is_<type>_issue` (bool) for every issue type. The other types' scores
    come from `issue_scores`, when asked for."""
    cursor = db.execute(REVIEW_QUEUE, (int(everything),))
    queue = pd.DataFrame([tuple(row) for row in cursor], columns=[column for column, *_ in cursor.description])
    queue["path"] = pd.Series([path_from_store(path) for path in queue["path"]], dtype=object)
    given = [json.loads(labels) for labels in queue["given_labels"]]  # in the labels index's order, as the store has
    queue["given_label"] = pd.Series(["|".join(labels) for labels in given], dtype=object)  # object: also when empty
    queue["given_labels"] = [sorted(labels) for labels in given]
    details = [json.loads(text) if isinstance(text, str) else {} for text in queue.pop("label_details")]  # NaN: no row
    for key in ("suggested_labels", "given_label_probability", "suggested_label_probability"):
        queue[key] = [found.get(key) for found in details]
    queue["needs_review"] = queue["needs_review"].astype(bool)
    flags = _flags(db, queue["item_id"])
    queue["issue_types"] = pd.Series(_flagged_types(flags, len(queue)), dtype=object)
    return queue[QUEUE_COLUMNS].assign(**{f"is_{name}_issue": values for name, values in flags.items()})


def _flags(db: sqlite3.Connection, item_ids: pd.Series) -> dict[str, np.ndarray]:
    """{issue type: (n,) bool, flagged} for the images `item_ids`, every issue type: the flagged rows only, found by
    the issues_by_type index (a million images have 13 million issue rows)."""
    positions = pd.Index(item_ids)
    flags = {}
    for (name,) in db.execute(ISSUE_TYPES).fetchall():
        flagged = [item for (item,) in db.execute("SELECT item_id FROM issues WHERE issue_type = ? AND is_issue = 1",
                                                  (name,))]
        where = positions.get_indexer(flagged)
        flags[name] = np.zeros(len(positions), dtype=bool)
        flags[name][where[where >= 0]] = True
    return flags


def _flagged_types(flags: dict[str, np.ndarray], n: int) -> list[list[str]]:
    """Each image's flagged issue types, sorted."""
    types: list[list[str]] = [[] for _ in range(n)]
    for name in sorted(flags):
        for i in np.flatnonzero(flags[name]):
            types[i].append(name)
    return types


def scored_issue_types(db: sqlite3.Connection) -> list[str]:
    """The issue types other than label that have a score for some image (the review page sorts by them)."""
    return [name for (name,) in db.execute(ISSUE_TYPES).fetchall() if name != "label" and db.execute(
        "SELECT EXISTS (SELECT 1 FROM issues WHERE issue_type = ? AND is_issue IN (0, 1) AND score IS NOT NULL)",
        (name,)).fetchone()[0]]


def issue_scores(db: sqlite3.Connection, issue_type: str, *, everything: bool = False) -> pd.Series:
    """Score of `issue_type` per item_id, of the images needing review (with `everything`, of every image)."""
    rows = db.execute("SELECT i.item_id, s.score FROM items i CROSS JOIN issues s ON s.item_id = i.item_id "
                      "WHERE s.issue_type = ? AND (i.needs_review OR ?)", (issue_type, int(everything))).fetchall()
    return pd.Series([score for _, score in rows], index=[item for item, _ in rows], dtype=float)


def read_splits(db: sqlite3.Connection) -> list[str]:
    """The split names of the run's images ('' and none left out), sorted."""
    return [split for (split,) in db.execute("SELECT DISTINCT split FROM items WHERE split IS NOT NULL AND split != '' "
                                             "ORDER BY split")]


def existing_items(db: sqlite3.Connection, item_ids: set[int]) -> set[int]:
    """Those of `item_ids` that are images of the run."""
    ids = sorted(int(i) for i in item_ids)
    return {item_id for (item_id,) in db.execute(
        f"SELECT item_id FROM items WHERE item_id IN ({','.join('?' * len(ids))})", ids)}


def item_evidence(db: sqlite3.Connection, item_id: int) -> dict | None:
    """One image's evidence: path, split, fold, labels, probabilities per class, issues, nearest images."""
    item = db.execute("SELECT item_id, path, split, fold FROM items WHERE item_id = ?", (int(item_id),)).fetchone()
    if item is None:
        return None
    probabilities = db.execute("SELECT probabilities FROM probabilities WHERE item_id = ?", (item_id,)).fetchone()
    issues = db.execute(
        "SELECT issue_type, is_issue, score, suggested_label, details FROM issues WHERE item_id = ? ORDER BY issue_type",
        (item_id,),
    )
    neighbors = db.execute(
        "SELECT n.neighbor_id AS item_id, i.path, n.distance, (SELECT GROUP_CONCAT(label, '|') FROM labels l "
        "WHERE l.item_id = n.neighbor_id) AS label FROM neighbors n JOIN items i ON i.item_id = n.neighbor_id "
        "WHERE n.item_id = ? ORDER BY n.rank",
        (item_id,),
    )
    return {
        **dict(item),
        "path": path_from_store(item["path"]),
        "labels": [label for (label,) in db.execute("SELECT label FROM labels WHERE item_id = ?", (item_id,))],
        "probabilities": json.loads(probabilities[0]) if probabilities else None,
        "issues": [{**dict(row), "details": json.loads(row["details"] or "null")} for row in issues],
        "neighbors": [{**dict(row), "path": path_from_store(row["path"])} for row in neighbors],
    }


def item_file(db: sqlite3.Connection, item_id: int) -> tuple[str, str | None] | None:
    """(path, content hash) of an image, or None when the run has no such item."""
    row = db.execute("SELECT path, content_hash FROM items WHERE item_id = ?", (int(item_id),)).fetchone()
    return (path_from_store(row[0]), row[1]) if row else None


ITEMS_WITH_SUGGESTIONS = """
SELECT i.item_id, i.path, i.split, i.content_hash,
       (SELECT MIN(l.label) FROM labels l WHERE l.item_id = i.item_id) AS given_label,
       (SELECT json_group_array(l.label) FROM labels l WHERE l.item_id = i.item_id) AS given_labels,
       COALESCE(label_issue.is_issue, 0) AS is_label_issue, label_issue.suggested_label, label_issue.details,
       p.probabilities, COALESCE(unreadable.is_issue, 0) AS is_unreadable
FROM items i
LEFT JOIN issues label_issue ON label_issue.item_id = i.item_id AND label_issue.issue_type = 'label'
LEFT JOIN issues unreadable ON unreadable.item_id = i.item_id AND unreadable.issue_type = 'unreadable'
LEFT JOIN probabilities p ON p.item_id = i.item_id
ORDER BY i.item_id
"""


def label_sets_with_suggestions(db: sqlite3.Connection) -> pd.DataFrame:
    """Every image of a multi-label run: item_id, path, split, content_hash, given_labels (tuple), is_label_issue,
    suggested_changes (tuple of (class, present, probability of that state) for the entries flagged missing or
    extra), is_unreadable."""
    classes = read_classes(db)
    rows = []
    for row in db.execute(ITEMS_WITH_SUGGESTIONS).fetchall():
        record = dict(row)
        details = json.loads(record.pop("details") or "{}") or {}
        probabilities = json.loads(record.pop("probabilities") or "null")
        changes = []
        if record["is_label_issue"] and probabilities is not None:
            for name in details.get("missing_labels") or ():
                changes.append((name, True, float(probabilities[classes.index(name)])))
            for name in details.get("extra_labels") or ():
                changes.append((name, False, 1.0 - float(probabilities[classes.index(name)])))
        record.update(path=path_from_store(record["path"]), given_labels=tuple(sorted(json.loads(record["given_labels"]))),
                      is_label_issue=bool(record["is_label_issue"]), is_unreadable=bool(record["is_unreadable"]),
                      suggested_changes=tuple(changes))
        rows.append(record)
    columns = ["item_id", "path", "split", "content_hash", "given_labels", "is_label_issue", "suggested_changes",
               "is_unreadable"]
    return pd.DataFrame(rows, columns=columns, dtype=object).astype({"item_id": int})


def items_with_suggestions(db: sqlite3.Connection) -> pd.DataFrame:
    """Every image: item_id, path, split, content_hash, given_label, is_label_issue, suggested_label,
    suggested_label_probability (of a flagged label issue, else None), is_unreadable."""
    rows = []
    for row in db.execute(ITEMS_WITH_SUGGESTIONS).fetchall():
        record = dict(row)
        record["path"] = path_from_store(record["path"])
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
