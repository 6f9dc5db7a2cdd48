"""The label files of a cleaned dataset as text: JSONL and CSV (keeping an original's other keys and columns),
and changes.csv."""

from __future__ import annotations

import csv
import io
import json

from labelfix.apply.rules import CleanedDataset, KeptImage
from labelfix.apply.source import RunSource, rescan_hint
from labelfix.dataset.readers import PathsUnder, read_label_text
from labelfix.errors import DatasetError
from labelfix.fileio import is_utf8, json_line, printable
from labelfix.spreadsheet import safe_table


def jsonl_text(run: RunSource, kept: tuple[KeptImage, ...]) -> str:
    """One line per kept image; a JSONL original's lines keep their other keys."""
    originals = _original_lines(run) if run.source_format == "jsonl" else {}
    keys = run.reader_options if run.source_format == "jsonl" else {}
    image_key, label_key = keys.get("path_column") or "image", keys.get("label_column") or "label"
    lines = []
    for image in kept:
        label = list(image.label) if isinstance(image.label, tuple) else image.label
        record = {**originals.get(image.path, {}), image_key: image.path, label_key: label}
        if image.split is not None:
            record.setdefault(keys.get("split_column") or "split", image.split)
        lines.append(json_line(record))
    return "".join(lines)


def _original_lines(run: RunSource) -> dict[str, dict]:
    lines, paths = {}, PathsUnder(run.root)
    for line in read_label_text(run.label_file).splitlines():
        if line.strip():
            record = json.loads(line)
            lines[paths.relative(record[run.reader_options.get("path_column") or "image"], str(run.label_file))] = record
    return lines


DEFAULT_LABEL_SEPARATOR = "|"  # between a multi-label image's labels in a CSV cell, unless the original had one


def label_separator(run: RunSource) -> str:
    return run.reader_options.get("label_separator") or DEFAULT_LABEL_SEPARATOR


def _cell(label: str | tuple[str, ...], separator: str) -> str:
    """A CSV label cell: one label, or a set joined by `separator` (a label holding the separator is refused)."""
    if not isinstance(label, tuple):
        return label
    clashing = [name for name in label if separator in name or (separator == " " and name != name.strip())]
    if clashing:
        raise DatasetError(f"the label {clashing[0]!r} holds the separator {separator!r}, so a CSV cell cannot hold "
                           "the label set; write the cleaned dataset with --format jsonl")
    return separator.join(label)


def csv_text(run: RunSource, kept: tuple[KeptImage, ...]) -> str:
    """A CSV original keeps its columns and other cells; otherwise image,label[,split]. Label sets are joined by
    the original's separator (`label_separator`)."""
    separator = label_separator(run)
    if run.source_format == "csv":
        path_column = run.reader_options.get("path_column") or "image"
        label_column = run.reader_options.get("label_column") or "label"
        reader = csv.DictReader(io.StringIO(read_label_text(run.label_file), newline=""))
        columns, paths = list(reader.fieldnames or []), PathsUnder(run.root)
        originals = {paths.relative(row[path_column], str(run.label_file)): row for row in reader}
        rows = [{**_original_row(originals, run, image.path), path_column: image.path,
                 label_column: _cell(image.label, separator)} for image in kept]
    else:
        columns = ["image", "label", *(["split"] if any(k.split for k in kept) else [])]
        rows = [{"image": k.path, "label": _cell(k.label, separator), "split": k.split or ""} for k in kept]
    for image in kept:
        if not is_utf8(image.path):
            raise DatasetError(f"the file name {printable(image.path)} is not UTF-8, and a CSV label file cannot hold "
                               "it; write the cleaned dataset with --format jsonl or folders, or rename the file")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _original_row(originals: dict[str, dict], run: RunSource, path: str) -> dict:
    if path not in originals:
        raise DatasetError(f"{run.label_file}: no row for {path} any more; the label file changed since the scan: "
                           f"{rescan_hint(run)}")
    return originals[path]


def changes_csv(cleaned: CleanedDataset) -> str:
    return safe_table(cleaned.changes_table()).to_csv(index=False, lineterminator="\n")
