"""The run's plain files: issues.csv and corrected_labels.jsonl (written atomically)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelfix.fileio import atomic_path, json_line, write_text_atomic
from labelfix.spreadsheet import safe_table


def write_issues_csv(path: Path, table: pd.DataFrame) -> None:
    """issues.csv, spreadsheet-safe (see `labelfix.spreadsheet`)."""
    with atomic_path(path) as temporary:
        safe_table(table).to_csv(temporary, index=False, float_format="%.6g")


def corrected_records(table: pd.DataFrame, *, drop_flagged: bool = False) -> list[dict]:
    """One `{"image", "label"}` record per usable image in dataset order (paths relative to the dataset root).

    Flagged images get the suggested label (with `"given_label"` kept), or are left out with `drop_flagged`;
    unreadable images are always left out.
    """
    rows = table.sort_index()
    flagged = rows["is_label_issue"].to_numpy(bool)
    keep = ~rows["is_unreadable_issue"].to_numpy(bool) & ~(flagged & drop_flagged)
    records = []
    columns = (rows[name].to_numpy(object)[keep] for name in ("path", "given_label", "suggested_label", "split"))
    for is_flagged, path, given, suggested, split in zip(flagged[keep], *columns):
        record = {"image": path, "label": suggested, "given_label": given} if is_flagged else {"image": path, "label": given}
        if split:
            record["split"] = split
        records.append(record)
    return records


def write_corrected_labels(path: Path, table: pd.DataFrame, *, drop_flagged: bool = False) -> int:
    records = corrected_records(table, drop_flagged=drop_flagged)
    write_text_atomic(path, "".join(map(json_line, records)))
    return len(records)
