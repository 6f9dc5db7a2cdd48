"""The files side of `labelfix apply`: read the run, check the source, write the cleaned dataset.

A copy goes to a new folder, written beside it and renamed into place at the end, so an interrupted apply
leaves nothing half-written. In-place changes are in `labelfix.apply_in_place`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from labelfix.apply import (
    CleanedDataset,
    Decision,
    KeptImage,
    RunItem,
    class_folder_path,
    clean_dataset,
    decisions_by_item,
    unique_paths,
    uses_split_folders,
)
from labelfix.dataset.readers import relative_to_root
from labelfix.errors import ApplyError, DatasetError
from labelfix.images.io import content_hash
from labelfix.store import current_decisions, items_with_suggestions, open_store, read_run_record

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("same", "jsonl", "csv", "folders")
IMAGE_MODES = ("link", "copy")
RECORD_FILE = "apply.json"
CHANGES_FILE = "changes.csv"


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


@dataclass(frozen=True)
class ApplyResult:
    out: Path
    output_format: str
    counts: dict[str, int]
    notes: tuple[str, ...]
    scan_command: str  # how `labelfix scan` reads the cleaned dataset


def load_run(run_dir: str | Path) -> RunSource:
    """Read the run's dataset record, images with suggestions and current decisions from its store."""
    run_dir = Path(run_dir).resolve()
    with closing(open_store(run_dir)) as db:
        record = read_run_record(db)
        dataset, config = record.get("dataset") or {}, record.get("config") or {}
        table = items_with_suggestions(db)
        decisions = decisions_by_item(current_decisions(db))
    items = tuple(
        RunItem(int(row.item_id), row.path, row.given_label, row.split, row.suggested_label,
                row.suggested_label_probability, bool(row.is_unreadable))
        for row in table.itertuples()
    )
    label_file = dataset.get("label_file")
    return RunSource(
        run_dir=run_dir, root=Path(dataset["root"]).resolve(), source_format=dataset["format"],
        label_file=Path(label_file) if label_file else None, reader_options=config.get("dataset", {}),
        items=items, content_hashes=dict(zip(table["item_id"], table["content_hash"])), decisions=decisions,
    )


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
        notes = [*notes, *more_notes]
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
    return command


def _check_choice(value: str, choices: tuple[str, ...], flag: str) -> None:
    if value not in choices:
        raise ApplyError(f"{flag} {value!r} is not one of {', '.join(choices)}")


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 <= threshold <= 1:
        raise ApplyError(f"--accept-suggestions-above {threshold} must be a probability between 0 and 1")


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


def check_source_unchanged(run: RunSource, cleaned: CleanedDataset) -> None:
    """Every kept image still exists; every decided or relabelled image has the bytes the scan saw."""
    fix = f"the dataset changed since the scan: {_rescan(run)}"
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


def _rescan(run: RunSource) -> str:
    return f"scan it again (labelfix scan {run.scan_path} --out {run.run_dir}; decisions are kept) and apply again"


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
    """Hard-link (or copy) root/source to destination/target; returns how many links fell back to copies."""
    copied = 0
    for source, target in pairs:
        if not (root / source).is_file():
            continue  # a kept unreadable image that did not exist at scan time either
        (destination / target).parent.mkdir(parents=True, exist_ok=True)
        if images == "link":
            try:
                os.link(root / source, destination / target)
                continue
            except OSError:
                copied += 1
        shutil.copy2(root / source, destination / target)
    return copied


def jsonl_text(run: RunSource, kept: tuple[KeptImage, ...]) -> str:
    """One line per kept image; a JSONL original's lines keep their other keys."""
    originals = _original_lines(run) if run.source_format == "jsonl" else {}
    lines = []
    for image in kept:
        record = {**originals.get(image.path, {}), "image": image.path, "label": image.label}
        if image.split is not None:
            record.setdefault("split", image.split)
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def _original_lines(run: RunSource) -> dict[str, dict]:
    lines = {}
    for line in run.label_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            lines[relative_to_root(run.root, record["image"], str(run.label_file))] = record
    return lines


def csv_text(run: RunSource, kept: tuple[KeptImage, ...]) -> str:
    """A CSV original keeps its columns and other cells; otherwise image,label[,split]."""
    if run.source_format == "csv":
        path_column = run.reader_options.get("path_column") or "image"
        label_column = run.reader_options.get("label_column") or "label"
        with run.label_file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            originals = {relative_to_root(run.root, row[path_column], str(run.label_file)): row for row in reader}
        rows = [{**_original_row(originals, run, image.path), path_column: image.path, label_column: image.label}
                for image in kept]
    else:
        columns = ["image", "label", *(["split"] if any(k.split for k in kept) else [])]
        rows = [{"image": k.path, "label": k.label, "split": k.split or ""} for k in kept]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _original_row(originals: dict[str, dict], run: RunSource, path: str) -> dict:
    if path not in originals:
        raise DatasetError(f"{run.label_file}: no row for {path} any more; the label file changed since the scan: "
                           f"{_rescan(run)}")
    return originals[path]


def changes_csv(cleaned: CleanedDataset) -> str:
    return cleaned.changes_table().to_csv(index=False, lineterminator="\n")


def now() -> datetime:
    return datetime.now(timezone.utc)


def _apply_record(run: RunSource, cleaned: CleanedDataset, layout: str, label_name: str | None, images: str,
                  notes: list[str], options: dict) -> dict:
    return {
        "applied_at": now().isoformat(timespec="seconds"),
        "run_dir": str(run.run_dir),
        "source": {"root": str(run.root), "format": run.source_format,
                   "label_file": str(run.label_file) if run.label_file else None},
        "output": {"format": layout, "label_file": label_name, "images": images},
        "options": options,
        "counts": cleaned.counts(),
        "notes": notes,
    }
