"""The run store (`labelfix.db`): items, labels, out-of-fold probabilities, issues and review decisions in SQLite.

This package is the only code that writes SQL for a run; the report, the review page and apply go through it.
Review decisions are an append-only log (`decisions`): the current decision of an image is its latest row
that was not undone, so two browser tabs never overwrite each other, and a re-scan into the same run folder
keeps the decisions of the images it still has (matched by path and content, see `carry`). `schema` holds the
tables and the compatibility policy.
"""

from labelfix.store.decisions import (
    ACTIONS,
    RunReplaced,
    current_decisions,
    record_decisions,
    undo_decision,
)
from labelfix.store.queries import (
    current_run_id,
    existing_items,
    issue_scores,
    item_evidence,
    item_file,
    items_with_suggestions,
    label_sets_with_suggestions,
    read_classes,
    read_run_record,
    read_splits,
    review_queue,
    scored_issue_types,
)
from labelfix.store.schema import STORE_FILE, STORE_VERSION, open_store
from labelfix.store.write import write_run_store

__all__ = [
    "ACTIONS", "STORE_FILE", "STORE_VERSION", "RunReplaced", "current_decisions", "current_run_id", "existing_items", "issue_scores", "item_evidence", "item_file",
    "items_with_suggestions", "label_sets_with_suggestions", "open_store", "read_classes", "read_run_record", "read_splits", "record_decisions", "review_queue",
    "scored_issue_types", "undo_decision", "write_run_store",
]
