"""What a scan recorded about its dataset, read back for apply, and the check that the dataset has not changed."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from labelfix.apply.rules import CleanedDataset, Decision, RunItem, decisions_by_item, with_changes
from labelfix.errors import ApplyError, DatasetError
from labelfix.images.io import content_hash
from labelfix.store import (
    current_decisions,
    items_with_suggestions,
    label_sets_with_suggestions,
    open_store,
    read_run_record,
)


@dataclass(frozen=True)
class RunSource:
    """What a scan recorded about its dataset, its images and the review decisions."""

    run_dir: Path
    root: Path
    source_format: str
    label_file: Path | None
    reader_options: dict
    items: tuple[RunItem, ...]
    content_hashes: dict[int, str | None]
    decisions: dict[int, Decision]

    @property
    def scan_path(self) -> Path:
        return self.label_file or self.root


def load_run(run_dir: str | Path) -> RunSource:
    """Read the run's dataset record, images with suggestions and current decisions from its store."""
    run_dir = Path(run_dir).resolve()
    with closing(open_store(run_dir)) as db:
        record = read_run_record(db)
        dataset, config = record.get("dataset") or {}, record.get("config") or {}
        multilabel = record.get("task") == "multilabel"
        table = label_sets_with_suggestions(db) if multilabel else items_with_suggestions(db)
        decisions = decisions_by_item(current_decisions(db))
    if multilabel:  # a decided label set is stored as a JSON list
        decisions = {item_id: replace(decision, label=tuple(sorted(json.loads(decision.label))) if decision.label else None)
                     for item_id, decision in decisions.items()}
        items = tuple(RunItem(int(row.item_id), row.path, row.given_labels, row.split,
                              with_changes(row.given_labels, row.suggested_changes) if row.is_label_issue else None,
                              None, bool(row.is_unreadable), row.suggested_changes)
                      for row in table.itertuples())
    else:
        items = tuple(RunItem(int(row.item_id), row.path, row.given_label, row.split, row.suggested_label,
                              row.suggested_label_probability, bool(row.is_unreadable))
                      for row in table.itertuples())
    label_file = dataset.get("label_file")
    return RunSource(
        run_dir=run_dir, root=Path(dataset["root"]).resolve(), source_format=dataset["format"],
        label_file=Path(label_file) if label_file else None, reader_options=config.get("dataset", {}),
        items=items, content_hashes=dict(zip(table["item_id"], table["content_hash"])), decisions=decisions,
    )


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 <= threshold <= 1:
        raise ApplyError(f"--accept-suggestions-above {threshold} must be a probability between 0 and 1")


def check_source_unchanged(run: RunSource, cleaned: CleanedDataset) -> None:
    """Every kept image still exists; every decided or relabelled image has the bytes the scan saw."""
    fix = f"the dataset changed since the scan: {rescan_hint(run)}"
    if run.label_file is not None and not run.label_file.is_file():
        raise DatasetError(f"{run.label_file}: label file missing; {fix}")
    paths = {item.item_id: item.path for item in run.items}
    suggested = {change.path for change in cleaned.changes if change.source == "suggestion"}
    changed = set(run.decisions) | {item.item_id for item in run.items if item.path in suggested}
    for item_id in dict.fromkeys([*(k.item_id for k in cleaned.kept), *sorted(changed)]):
        file, expected = run.root / paths[item_id], run.content_hashes.get(item_id)
        if expected is None:
            continue  # unreadable at scan time: nothing to compare
        if not file.is_file():
            raise DatasetError(f"{file}: missing; {fix}")
        if item_id in changed and content_hash(file.read_bytes()) != expected:
            raise DatasetError(f"{file}: its content differs from the scanned image; {fix}")


def rescan_hint(run: RunSource) -> str:
    return f"scan it again (labelfix scan {run.scan_path} --out {run.run_dir}; decisions are kept) and apply again"
