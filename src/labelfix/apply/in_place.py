"""`labelfix apply --in-place`: change the original dataset, after writing a backup manifest; nothing is deleted.

Class folders: a relabelled image moves into its new class folder, a removed one into `.labelfix-removed/`
under the root. Label files: the file is rewritten atomically after a timestamped copy is put beside it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from labelfix.apply.formats import changes_csv, csv_text, jsonl_text
from labelfix.apply.layout import REMOVED_FOLDER, class_folder_path, refuse_label_sets, unique_paths
from labelfix.apply.rules import CleanedDataset, clean_dataset
from labelfix.apply.source import RunSource, check_source_unchanged, check_threshold, load_run
from labelfix.errors import ApplyError
from labelfix.fileio import write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InPlaceResult:
    counts: dict[str, int]
    moved: int
    backup: Path
    label_file_backup: Path | None
    changes_file: Path
    undo: str
    notes: tuple[str, ...] = ()


def apply_in_place(
    run_dir: str | Path,
    *,
    confirmed: bool,
    accept_suggestions_above: float | None = None,
    keep_unreadable: bool = False,
) -> InPlaceResult:
    """Change the original dataset: move files between class folders (removals into `.labelfix-removed/`) or
    rewrite its label file. Nothing is deleted; a backup manifest goes into the run folder first."""
    check_threshold(accept_suggestions_above)
    run = load_run(run_dir)
    if run.source_format == "regex":
        raise ApplyError("this dataset's labels come from file names, which --in-place does not rename; "
                         "write a cleaned copy instead with --to OUT (a labels.jsonl)")
    cleaned = clean_dataset(run.items, run.decisions, accept_suggestions_above=accept_suggestions_above,
                            keep_unreadable=keep_unreadable)
    if run.source_format == "folders":
        refuse_label_sets(cleaned.kept, "write a multi-label copy with --to OUT --format jsonl")
    moves = _in_place_moves(run, cleaned) if run.source_format == "folders" else []
    if not confirmed:
        raise ApplyError(f"--in-place would {_in_place_plan(run, cleaned, moves)}. Add --yes-modify-my-dataset to do "
                         "it (a backup manifest goes into the run folder first), or write a copy with --to OUT")
    check_source_unchanged(run, cleaned)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    label_backup = None
    if run.label_file is not None:
        label_backup = run.label_file.with_name(f"{run.label_file.name}.labelfix-backup-{stamp}")
        shutil.copy2(run.label_file, label_backup)
    backup = run.run_dir / f"apply-backup-{stamp}.json"
    undo = _undo_text(run, backup, label_backup)
    write_text_atomic(backup, json.dumps(_backup_record(run, moves, label_backup, undo), indent=2) + "\n")
    if run.source_format == "folders":
        _move(run.root, moves)
    else:
        text = jsonl_text(run, cleaned.kept) if run.source_format == "jsonl" else csv_text(run, cleaned.kept)
        write_text_atomic(run.label_file, text)
    changes_file = run.run_dir / f"apply-changes-{stamp}.csv"
    write_text_atomic(changes_file, changes_csv(cleaned))
    return InPlaceResult(cleaned.counts(), len(moves), backup, label_backup, changes_file, undo,
                         tuple(filter(None, [cleaned.undecided_note(run.run_dir)])))


def _in_place_moves(run: RunSource, cleaned: CleanedDataset) -> list[tuple[str, str]]:
    """(from, to) relative to the root: relabels into their class folder, the rest into REMOVED_FOLDER."""
    kept_ids = {k.item_id for k in cleaned.kept}
    wanted = [(k.item_id, class_folder_path(k.path, k.label, source_format="folders", split=k.split))
              for k in cleaned.kept]
    wanted = [(item_id, target) for (item_id, target), k in zip(wanted, cleaned.kept) if target != k.path]
    wanted += [(i.item_id, f"{REMOVED_FOLDER}/{i.path}") for i in run.items
               if i.item_id not in kept_ids and (run.root / i.path).is_file()]
    occupied = {p.relative_to(run.root).as_posix() for p in run.root.rglob("*") if p.is_file()}
    placed = unique_paths(wanted, occupied)
    paths = {item.item_id: item.path for item in run.items}
    return [(paths[item_id], placed[item_id]) for item_id, _ in wanted]


def _in_place_plan(run: RunSource, cleaned: CleanedDataset, moves: list[tuple[str, str]]) -> str:
    counts = cleaned.counts()
    relabelled = counts["relabelled_by_review"] + counts["relabelled_by_suggestion"]
    if run.source_format == "folders":
        removed = sum(target.startswith(f"{REMOVED_FOLDER}/") for _, target in moves)
        return f"move {len(moves) - removed} images into other class folders and {removed} into {run.root / REMOVED_FOLDER}"
    left_out = len(run.items) - len(cleaned.kept)
    return f"rewrite {run.label_file} ({relabelled} relabelled, {left_out} left out; image files stay where they are)"


def _backup_record(run: RunSource, moves: list[tuple[str, str]], label_backup: Path | None, undo: str) -> dict:
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": str(run.root),
        "format": run.source_format,
        "label_file": str(run.label_file) if run.label_file else None,
        "label_file_backup": str(label_backup) if label_backup else None,
        "items": [{"path": i.path, "label": i.given_label, "split": i.split} for i in run.items],
        "moves": [{"from": source, "to": target} for source, target in moves],
        "undo": undo,
    }


def _undo_text(run: RunSource, backup: Path, label_backup: Path | None) -> str:
    if label_backup is not None:
        return f"copy {label_backup} back over {run.label_file}"
    return f"move each file in {backup} 'moves' from its 'to' path back to its 'from' path (both relative to {run.root})"


def _move(root: Path, moves: list[tuple[str, str]]) -> None:
    for source, target in moves:
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        os.rename(root / source, root / target)
        log.info("moved %s to %s", source, target)
