"""Render report.html: one self-contained file (plots and thumbnails embedded)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from labelfix.fileio import write_text_atomic
from labelfix.images.io import thumbnail_data_uri
from labelfix.report import plots

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("labelfix.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _class_rows(table: pd.DataFrame, classes: list[str], noise_rates: np.ndarray) -> list[dict]:
    readable = table[~table["is_unreadable_issue"]]
    counts = readable["given_label"].value_counts()
    flagged = readable[readable["is_label_issue"]]["given_label"].value_counts()
    return [
        {
            "name": name,
            "images": int(counts.get(name, 0)),
            "flagged": int(flagged.get(name, 0)),
            "noise_rate": float(noise_rates[k]),
        }
        for k, name in enumerate(classes)
    ]


def _pair_groups(table: pd.DataFrame, root: Path, per_pair: int) -> list[dict]:
    """Flagged images grouped by (given, suggested), largest group first, worst image first within."""
    flagged = table[table["is_label_issue"]]
    groups = []
    for (given, suggested), rows in flagged.groupby(["given_label", "suggested_label"], sort=False):
        images = [
            {
                "thumbnail": thumbnail_data_uri(root / row.path),
                "path": row.path,
                "name": Path(row.path).name,
                "given_probability": row.given_label_probability,
                "suggested_probability": row.suggested_label_probability,
                "score": row.label_score,
            }
            for row in rows.sort_values("label_score").head(per_pair).itertuples()
        ]
        groups.append({"given": given, "suggested": suggested, "count": len(rows), "images": images})
    return sorted(groups, key=lambda group: (-group["count"], group["given"], group["suggested"]))


def render_report(
    table: pd.DataFrame,
    classes: list[str],
    noise_rates: np.ndarray,
    noise_matrix: np.ndarray,
    run_record: dict,
    root: Path,
    *,
    images_per_pair: int = 48,
) -> str:
    """The report's HTML text. `table` is the issue table; `noise_matrix` (K, K) counts flagged given→suggested."""
    class_rows = _class_rows(table, classes, noise_rates)
    readable = table[~table["is_unreadable_issue"]]
    unreadable = table[table["is_unreadable_issue"]]
    context = {
        "run": run_record,
        "classes": class_rows,
        "summary": {
            "images": len(table),
            "classes": len(classes),
            "flagged": int(readable["is_label_issue"].sum()),
            "unreadable": len(unreadable),
            "flagged_share": float(readable["is_label_issue"].mean()) if len(readable) else 0.0,
        },
        "plots": {
            "distribution": plots.class_distribution(
                classes, np.array([c["images"] for c in class_rows]), np.array([c["flagged"] for c in class_rows])
            ),
            "noise_matrix": plots.noise_matrix(classes, noise_matrix),
            "scores": plots.score_histogram(
                readable["label_score"].to_numpy(float), readable["is_label_issue"].to_numpy(bool)
            ),
        },
        "pairs": _pair_groups(table, root, images_per_pair),
        "unreadable": unreadable[["path", "given_label", "unreadable_reason"]].to_dict("records"),
    }
    return _TEMPLATES.get_template("report.html.j2").render(**context)


def write_report(path: Path, **kwargs) -> None:
    write_text_atomic(path, render_report(**kwargs))
