"""Render report.html: one self-contained file (plots and thumbnails embedded)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from labelfix.fileio import write_text_atomic
from labelfix.images.io import thumbnail_data_uri
from labelfix.report import plots
from labelfix.store import health_issue_types

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


def _image_card(row, root: Path) -> dict:
    return {
        "thumbnail": thumbnail_data_uri(root / row.path),
        "path": row.path,
        "name": Path(row.path).name,
        "given": row.given_label,
        "suggested": row.suggested_label,
        "given_probability": row.given_label_probability,
        "suggested_probability": row.suggested_label_probability,
        "score": row.label_score,
    }


def _borderline(table: pd.DataFrame, root: Path, count: int) -> list[dict]:
    """The lowest-scoring readable images that were not flagged: worth a look when flags are few."""
    candidates = table[~table["is_unreadable_issue"] & ~table["is_label_issue"]]
    return [_image_card(row, root) for row in candidates.nsmallest(count, "label_score").itertuples()]


def _pair_groups(table: pd.DataFrame, root: Path, per_pair: int) -> list[dict]:
    """Flagged images grouped by (given, suggested), largest group first, worst image first within."""
    flagged = table[table["is_label_issue"]]
    groups = []
    for (given, suggested), rows in flagged.groupby(["given_label", "suggested_label"], sort=False):
        images = [_image_card(row, root) for row in rows.sort_values("label_score").head(per_pair).itertuples()]
        groups.append({"given": given, "suggested": suggested, "count": len(rows), "images": images})
    return sorted(groups, key=lambda group: (-group["count"], group["given"], group["suggested"]))


HEALTH_EXPLANATIONS = {
    "low_information": "nearly uniform images (blank frames, placeholders such as 'image not found' graphics)",
}


def _problem_files(table: pd.DataFrame, root: Path) -> list[dict]:
    """Unreadable files and images with health issues, with a thumbnail where one can be made."""
    problems = []
    for row in table.itertuples():
        if row.is_unreadable_issue:
            problems.append({"path": row.path, "label": row.given_label, "problem": row.unreadable_reason, "thumbnail": None})
            continue
        for name in health_issue_types(table):
            if getattr(row, f"is_{name}_issue"):
                problem = f"{name.replace('_', ' ')} (score {getattr(row, f'{name}_score'):.2f}): {HEALTH_EXPLANATIONS.get(name, '')}"
                problems.append({"path": row.path, "label": row.given_label, "problem": problem,
                                 "thumbnail": thumbnail_data_uri(root / row.path)})
    return problems


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
    problems = _problem_files(table, root)
    context = {
        "run": run_record,
        "classes": class_rows,
        "summary": {
            "images": len(table),
            "classes": len(classes),
            "flagged": int(readable["is_label_issue"].sum()),
            "problems": len(problems),
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
        "problems": problems,
        "borderline": _borderline(table, root, 12),
    }
    return _TEMPLATES.get_template("report.html.j2").render(**context)


def write_report(path: Path, **kwargs) -> None:
    write_text_atomic(path, render_report(**kwargs))
