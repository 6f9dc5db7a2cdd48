"""The run's plain files: issues.csv and corrected_labels.jsonl (written atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from labelfix.fileio import atomic_path, json_line, write_text_atomic
from labelfix.issues.table import LABEL_SET_COLUMNS, is_multilabel_table
from labelfix.spreadsheet import safe_table


def write_issues_csv(path: Path, table: pd.DataFrame) -> None:
    """issues.csv, spreadsheet-safe (see `labelfix.spreadsheet`); label sets as JSON lists; numbers to 6
    significant digits."""
    table = table.copy()
    for column in LABEL_SET_COLUMNS:
        if column in table:
            table[column] = [json.dumps(list(labels), ensure_ascii=False) if isinstance(labels, tuple) else ""
                             for labels in table[column]]
    table = safe_table(table)
    for column in table.columns:  # as float_format="%.6g" writes them, without its formatter call per value
        if pd.api.types.is_float_dtype(table[column]):
            table[column] = ["%.6g" % value if value == value else "" for value in table[column].tolist()]
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)


def corrected_records(table: pd.DataFrame, *, drop_flagged: bool = False) -> list[dict]:
    """One `{"image", "label"}` record per usable image in dataset order (paths relative to the dataset root); a
    multi-label run's labels are lists.

    Flagged images get the suggested label (with `"given_label"` kept), or are left out with `drop_flagged`;
    unreadable images are always left out.
    """
    rows = table.sort_index()
    flagged = rows["is_label_issue"].to_numpy(bool)
    keep = ~rows["is_unreadable_issue"].to_numpy(bool) & ~(flagged & drop_flagged)
    records = []
    given_suggested = ("given_labels", "suggested_labels") if is_multilabel_table(table) else ("given_label", "suggested_label")
    columns = (rows[name].to_numpy(object)[keep] for name in ("path", *given_suggested, "split"))
    for is_flagged, path, given, suggested, split in zip(flagged[keep], *columns):
        given, suggested = (list(given), list(suggested)) if isinstance(given, tuple) else (given, suggested)
        record = {"image": path, "label": suggested, "given_label": given} if is_flagged else {"image": path, "label": given}
        if split:
            record["split"] = split
        records.append(record)
    return records


def write_corrected_labels(path: Path, table: pd.DataFrame, *, drop_flagged: bool = False) -> int:
    records = corrected_records(table, drop_flagged=drop_flagged)
    write_text_atomic(path, "".join(map(json_line, records)))
    return len(records)
