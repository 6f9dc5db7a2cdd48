"""The run's plain files: issues.csv and corrected_labels.jsonl (written atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from labelfix.fileio import atomic_path, write_text_atomic


def write_issues_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6g")


def corrected_records(table: pd.DataFrame, *, drop_flagged: bool = False) -> list[dict]:
    """One `{"image", "label"}` record per usable image in dataset order (paths relative to the dataset root).

    Flagged images get the suggested label (with `"given_label"` kept), or are left out with `drop_flagged`;
    unreadable images are always left out.
    """
    records = []
    for _, row in table.sort_index().iterrows():
        if row["is_unreadable_issue"] or (drop_flagged and row["is_label_issue"]):
            continue
        record = {"image": row["path"], "label": row["given_label"]}
        if row["is_label_issue"]:
            record.update(label=row["suggested_label"], given_label=row["given_label"])
        if row["split"]:
            record["split"] = row["split"]
        records.append(record)
    return records


def write_corrected_labels(path: Path, table: pd.DataFrame, *, drop_flagged: bool = False) -> int:
    records = corrected_records(table, drop_flagged=drop_flagged)
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)
