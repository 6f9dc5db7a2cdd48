"""`apply_run`: the cleaned dataset as a new folder (images linked or copied, a label file, changes.csv).

The folder is written beside its final place and renamed into it at the end, so an interrupted apply leaves
nothing half-written. In-place changes are in `labelfix.apply.in_place`.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from labelfix.apply.formats import changes_csv, csv_text, jsonl_text, label_separator
from labelfix.apply.layout import class_folder_path, refuse_label_sets, unique_paths, uses_split_folders
from labelfix.apply.rules import CleanedDataset, KeptImage, clean_dataset
from labelfix.apply.source import RunSource, check_source_unchanged, check_threshold, load_run
from labelfix.errors import ApplyError
from labelfix.fileio import link_or_copy

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("same", "jsonl", "csv", "folders")
IMAGE_MODES = ("link", "copy")
RECORD_FILE = "apply.json"
CHANGES_FILE = "changes.csv"


@dataclass(frozen=True)
class ApplyResult:
    out: Path
    output_format: str
    counts: dict[str, int]
    notes: tuple[str, ...]
    scan_command: str  # how `labelfix scan` reads the cleaned dataset


def apply_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    output_format: str = "same",
    images: str = "link",
    accept_suggestions_above: float | None = None,
    keep_unreadable: bool = False,
    overwrite: bool = False,
) -> ApplyResult:
    """Write the cleaned dataset of a run to the new folder `out`; the original is only read."""
    _check_choice(output_format, OUTPUT_FORMATS, "--format")
    _check_choice(images, IMAGE_MODES, "--images")
    check_threshold(accept_suggestions_above)
    run = load_run(run_dir)
    out = Path(out).resolve()
    _check_out(out, run, overwrite)
    cleaned = clean_dataset(run.items, run.decisions, accept_suggestions_above=accept_suggestions_above,
                            keep_unreadable=keep_unreadable)
    check_source_unchanged(run, cleaned)
    layout, notes = _output_layout(output_format, run.source_format)
    with _new_folder(out) as staging:
        label_name, more_notes = _write_cleaned(run, cleaned.kept, staging, layout, images)
        notes = [*notes, *more_notes, *filter(None, [cleaned.undecided_note(run.run_dir)])]
        (staging / CHANGES_FILE).write_text(changes_csv(cleaned), encoding="utf-8")
        record = _apply_record(run, cleaned, layout, label_name, images, notes,
                               {"accept_suggestions_above": accept_suggestions_above, "keep_unreadable": keep_unreadable})
        (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return ApplyResult(out, layout, cleaned.counts(), tuple(notes), _scan_command(run, cleaned.kept, out, label_name))


def _scan_command(run: RunSource, kept: tuple[KeptImage, ...], out: Path, label_name: str | None) -> str:
    """`labelfix scan ...` for the output, with the CSV column options it needs."""
    command = f"labelfix scan {out / label_name if label_name else out}"
    if label_name is None or not label_name.endswith(".csv"):
        return command
    columns = run.reader_options if run.source_format == "csv" else {"split_column": "split" if any(k.split for k in kept) else None}
    for option in ("path_column", "label_column", "split_column"):
        if columns.get(option) not in (None, "image", "label"):
            command += f" --{option.replace('_', '-')} {columns[option]}"
    if any(isinstance(k.label, tuple) for k in kept):
        command += f" --label-separator {shlex.quote(label_separator(run))}"
    return command


def _check_choice(value: str, choices: tuple[str, ...], flag: str) -> None:
    if value not in choices:
        raise ApplyError(f"{flag} {value!r} is not one of {', '.join(choices)}")


def _check_out(out: Path, run: RunSource, overwrite: bool) -> None:
    root = run.root
    if out.is_relative_to(root):
        raise ApplyError(f"{out} is inside the dataset {root}; give a --to folder outside it "
                         "(apply never writes into the original; see --in-place)")
    if root.is_relative_to(out) or run.run_dir.is_relative_to(out):
        raise ApplyError(f"{out} holds the dataset or the run folder; give a new --to folder")
    if not out.exists():
        return
    if not out.is_dir():
        raise ApplyError(f"{out} is a file; give a folder for the cleaned dataset")
    if any(out.iterdir()) and not overwrite:
        raise ApplyError(f"{out} exists and is not empty; give a new folder, or --overwrite to replace an earlier "
                         "apply output")
    if any(out.iterdir()) and not (out / RECORD_FILE).is_file():
        raise ApplyError(f"{out} is not an earlier apply output (no {RECORD_FILE}); --overwrite only replaces "
                         "those: give a new folder")


def _output_layout(output_format: str, source_format: str) -> tuple[str, list[str]]:
    if output_format != "same":
        return output_format, []
    if source_format == "regex":
        return "jsonl", ["labels come from file names in the original, which apply does not rename: the cleaned "
                         "dataset is a labels.jsonl (or use --format folders)"]
    return source_format, []


@contextmanager
def _new_folder(out: Path) -> Iterator[Path]:
    """A staging folder beside `out` that replaces it at the end; removed on error."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".applying", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would become the output's mode; its subfolders get the usual
    try:
        yield staging
        if out.exists():
            replaced = staging.with_suffix(".replaced")
            os.replace(out, replaced)
            os.replace(staging, out)
            shutil.rmtree(replaced)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _write_cleaned(run: RunSource, kept: tuple[KeptImage, ...], staging: Path, layout: str,
                   images: str) -> tuple[str | None, list[str]]:
    """Images and label file into `staging`; returns the label file's name (None for folders) and notes."""
    if layout == "folders":
        refuse_label_sets(kept, "write a multi-label dataset with --format jsonl or csv")
        placed, notes = _folder_targets(run, kept)
        copied = _place_images(run.root, staging, [(k.path, placed[k.item_id]) for k in kept], images)
        return None, notes + _copy_note(copied, images)
    copied = _place_images(run.root, staging, [(k.path, k.path) for k in kept], images)
    name = _label_file_name(run, layout)
    text = jsonl_text(run, kept) if layout == "jsonl" else csv_text(run, kept)
    (staging / name).write_text(text, encoding="utf-8")
    return name, _copy_note(copied, images)


def _label_file_name(run: RunSource, layout: str) -> str:
    if run.label_file is not None and run.source_format == layout:
        return run.label_file.name
    return f"labels.{layout}"


def _copy_note(copied: int, images: str) -> list[str]:
    if images == "link" and copied:
        return [f"{copied} images were copied, not hard-linked (hard links cannot cross file systems)"]
    return []


def _folder_targets(run: RunSource, kept: tuple[KeptImage, ...]) -> tuple[dict[int, str], list[str]]:
    """{item_id: path in the class-folder output}; images that keep their place come first."""
    from_folders = run.source_format == "folders"
    with_splits = from_folders or uses_split_folders(kept)
    notes = [] if with_splits or not any(k.split for k in kept) else [
        "splits are left out: class folders keep them only when every image is in train, val or test"]
    wanted = [(k.item_id, class_folder_path(k.path, k.label, source_format=run.source_format,
                                            split=k.split if with_splits else None)) for k in kept]
    source_paths = {k.item_id: k.path for k in kept}
    wanted.sort(key=lambda pair: pair[1] != source_paths[pair[0]])
    return unique_paths(wanted, set()), notes


def _place_images(root: Path, destination: Path, pairs: list[tuple[str, str]], images: str) -> int:
    """Hard-link (or copy) root/source to destination/target; returns how many links fell back to copies.
    Plain strings and one mkdir per folder: a million images are placed in seconds, not minutes."""
    copied, made = 0, set()
    for source, target in pairs:
        source_path, target_path = os.path.join(root, source), os.path.join(destination, target)
        folder = os.path.dirname(target_path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        try:
            if images == "link":
                copied += not link_or_copy(source_path, target_path)
            else:
                shutil.copy2(source_path, target_path)
        except (FileNotFoundError, IsADirectoryError):
            continue  # a kept unreadable image that did not exist (as a file) at scan time either
    return copied


def _apply_record(run: RunSource, cleaned: CleanedDataset, layout: str, label_name: str | None, images: str,
                  notes: list[str], options: dict) -> dict:
    return {
        "applied_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run.run_dir),
        "source": {"root": str(run.root), "format": run.source_format,
                   "label_file": str(run.label_file) if run.label_file else None},
        "output": {"format": layout, "label_file": label_name, "images": images},
        "options": options,
        "counts": cleaned.counts(),
        "notes": notes,
    }
