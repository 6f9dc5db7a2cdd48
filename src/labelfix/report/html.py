"""Render report.html: one self-contained file (plots and thumbnails embedded)."""

from __future__ import annotations

import os
import shlex
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from labelfix import plots
from labelfix.config import LOW_AGREEMENT
from labelfix.features.neighbors import Neighbors
from labelfix.fileio import printable, write_text_atomic
from labelfix.images.io import thumbnail_data_uri
from labelfix.issues.multilabel import label_set_text
from labelfix.issues.table import is_multilabel_table, issue_types

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("labelfix.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)

# issue type -> (what it means, what to do)
ISSUE_TYPES = {
    "label": ("the given label disagrees with a classifier that never saw the image", "relabel to the suggestion, or keep"),
    "unreadable": ("the file cannot be decoded as an image", "replace or delete the file"),
    "invalid": ("readable, but the wrong extension for its content, animated, or of an extreme size", "re-save or remove it"),
    "exact_duplicate": ("the same pixels appear in more than one file", "keep one copy"),
    "near_duplicate": ("nearly the same picture (resized, re-encoded, cropped) in more than one file", "keep one copy"),
    "conflicting_duplicate": ("near duplicates that carry different labels: at least one label is wrong", "give them one label"),
    "leakage": ("near duplicates split across train/val/test: evaluation scores are inflated", "keep them in one split"),
    "outlier": ("unlike the rest of the dataset: not a photo of any class, or of something the model does not know", "remove it unless it belongs"),
    "dark": ("almost black", "remove it unless darkness is expected"),
    "light": ("washed out, almost white", "remove it unless expected"),
    "blurry": ("little sharp detail (blurred or upscaled from a tiny image)", "remove it if the subject cannot be recognised"),
    "low_information": ("nearly uniform: blank frames, placeholders ('image not found' graphics)", "remove it"),
    "grayscale": ("no colour in a dataset of colour images", "check it belongs"),
    "odd_size": ("much smaller or larger than the dataset's typical image", "check it is the right picture"),
    "odd_aspect_ratio": ("a very long or very tall image", "check it is not a strip or a banner"),
}
MAX_GROUPS = 40  # label-issue groups shown with images; the others are listed by count
MAX_PROBLEM_ROWS = 500  # problem files listed; issues.csv has them all
IMAGE_ISSUE_SECTIONS = ("outlier", "dark", "light", "blurry", "low_information", "grayscale", "odd_size", "odd_aspect_ratio")


class Thumbnails:
    """Thumbnail data URIs, made once per image however often the report shows it, by a few threads while the
    report is put together (decoding and shrinking let go of Python's lock: a photo of several megapixels takes
    tens of milliseconds, and a report shows up to a few hundred). A card gets a `Thumbnail` that waits for
    its image only when the page is rendered."""

    def __init__(self, root: Path, threads: int = min(8, os.cpu_count() or 1)) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="labelfix-thumbnails")
        self._made: dict[str, Thumbnail] = {}

    def __call__(self, path: str) -> Thumbnail:
        if path not in self._made:
            self._made[path] = Thumbnail(self._pool.submit(thumbnail_data_uri, self.root / path))
        return self._made[path]

    def __enter__(self) -> Thumbnails:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)


class Thumbnail:
    """A data URI being made: false when the image cannot be read, else the URI as text."""

    def __init__(self, made: Future) -> None:
        self.made = made

    def __bool__(self) -> bool:
        return self.made.result() is not None

    def __str__(self) -> str:
        return self.made.result() or ""


CARD_COLUMNS = ["path", "given_label", "split", "suggested_label", "given_label_probability",
                "suggested_label_probability", "label_score"]


def _image_cards(rows: pd.DataFrame, thumbnails: Thumbnails) -> list[dict]:
    """One card per row of the issue table, in order, made from the few columns a card shows (rows of all of
    the table's 41 columns took 2.4 times as long)."""
    return [{
        "thumbnail": thumbnails(row.path),
        "path": row.path,
        "name": Path(row.path).name,
        "given": row.given_label,
        "split": row.split,
        "suggested": row.suggested_label,
        "given_probability": row.given_label_probability,
        "suggested_probability": row.suggested_label_probability,
        "score": row.label_score,
    } for row in rows[CARD_COLUMNS].itertuples()]


def _for_display(table: pd.DataFrame) -> pd.DataFrame:
    """A multi-label table with given_label / suggested_label as text ('cat + sofa'), so that the cards, the
    duplicate groups and the problem list show label sets; no per-label probabilities."""
    if not is_multilabel_table(table):
        return table
    shown = table.copy()
    for column, sets in (("given_label", "given_labels"), ("suggested_label", "suggested_labels")):
        shown[column] = [label_set_text(labels) if isinstance(labels, tuple) else "" for labels in table[sets]]
    shown["given_label_probability"] = shown["suggested_label_probability"] = None
    return shown


def _label_set_groups(table: pd.DataFrame, classes: list[str], thumbnails: Thumbnails, per_group: int) -> list[dict]:
    """Flagged images grouped by 'probably missing <class>' and 'probably not <class>', largest group first;
    images for the first MAX_GROUPS groups."""
    flagged = table[table["is_label_issue"]].sort_values("label_score")
    groups = []
    for name in classes:
        for column, title in (("missing_labels", f"probably missing {name}"), ("extra_labels", f"probably not {name}")):
            rows = flagged[[name in labels for labels in flagged[column]]]
            if len(rows):
                groups.append({"title": title, "count": len(rows), "rows": rows})
    return _with_images(sorted(groups, key=lambda group: -group["count"]), thumbnails, per_group)


def _class_rows(table: pd.DataFrame, classes: list[str], noise_rates: np.ndarray) -> list[dict]:
    readable = table[~table["is_unreadable_issue"]]
    counts = readable["given_label"].value_counts()
    flagged = readable[readable["is_label_issue"]]["given_label"].value_counts()
    return [
        {"name": name, "images": int(counts.get(name, 0)), "flagged": int(flagged.get(name, 0)),
         "noise_rate": float(noise_rates[k])}
        for k, name in enumerate(classes)
    ]


def _type_rows(table: pd.DataFrame, notes: dict[str, str]) -> list[dict]:
    rows = []
    for name in issue_types(table):
        meaning, action = ISSUE_TYPES.get(name, ("", ""))
        rows.append({"name": name, "count": int(table[f"is_{name}_issue"].sum()), "meaning": meaning,
                     "action": action, "note": notes.get(name, "")})
    return rows


def _pair_groups(table: pd.DataFrame, thumbnails: Thumbnails, per_pair: int) -> list[dict]:
    """Flagged images grouped by (given, suggested), largest group first, worst image first within; images for
    the first MAX_GROUPS groups."""
    flagged = table[table["is_label_issue"]]
    groups = [{"given": given, "suggested": suggested, "count": len(rows), "rows": rows}
              for (given, suggested), rows in flagged.groupby(["given_label", "suggested_label"], sort=False)]
    groups = sorted(groups, key=lambda group: (-group["count"], group["given"], group["suggested"]))
    return _with_images(groups, thumbnails, per_pair, sort_by="label_score")


def _with_images(groups: list[dict], thumbnails: Thumbnails, per_group: int, sort_by: str | None = None) -> list[dict]:
    """The groups with the cards of their worst `per_group` images, for the first MAX_GROUPS groups only (the
    rest are listed by count: the report stays small whatever the dataset's size)."""
    for position, group in enumerate(groups):
        rows = group.pop("rows")
        if position < MAX_GROUPS:
            worst = (rows.nsmallest(per_group, sort_by) if sort_by else rows.head(per_group))
            group["images"] = _image_cards(worst, thumbnails)
    return groups


def _duplicate_groups(table: pd.DataFrame, thumbnails: Thumbnails, limit: int = 40) -> list[dict]:
    """The first `limit` near-duplicate groups (exact ones included), conflicting and leaking groups first, then
    the largest; thumbnails are made for those only."""
    if "near_duplicate_group" not in table:
        return []
    members = table[table["near_duplicate_group"] >= 0]
    exact_column = members["exact_duplicate_group"] if "exact_duplicate_group" in members else pd.Series(-1, members.index)
    summary = members.assign(exact_group=exact_column).groupby("near_duplicate_group").agg(
        labels=("given_label", "nunique"), splits=("split", "nunique"), size=("path", "size"),
        exact_groups=("exact_group", "nunique"), exact_group=("exact_group", "first"))
    summary["conflicting"], summary["leaking"] = summary["labels"] > 1, summary["splits"] > 1
    summary = summary.assign(group_id=summary.index).sort_values(
        ["conflicting", "leaking", "size", "group_id"], ascending=[False, False, False, True]).head(limit)
    shown = members[members["near_duplicate_group"].isin(summary.index)].groupby("near_duplicate_group")
    return [{
        "id": int(row.Index), "conflicting": bool(row.conflicting), "leaking": bool(row.leaking), "size": int(row.size),
        "exact": bool(row.exact_groups == 1 and row.exact_group >= 0),  # every member has the same pixels
        "images": _image_cards(shown.get_group(row.Index).head(8), thumbnails),
    } for row in summary.itertuples()]


def _neighbor_cards(item: int, table: pd.DataFrame, neighbors: Neighbors | None, readable_items: np.ndarray,
                    thumbnails: Thumbnails, count: int = 4) -> list[dict]:
    if neighbors is None:
        return []
    row = int(np.searchsorted(readable_items, item))
    by_item = table.loc[neighbors.indices[row][:count]]
    cards = _image_cards(by_item, thumbnails)
    for card, distance in zip(cards, neighbors.distances[row][:count]):
        card["distance"] = distance
    return cards


def _image_issue_sections(table: pd.DataFrame, thumbnails: Thumbnails, neighbors: Neighbors | None,
                          limit: int = 24) -> list[dict]:
    """One grid per image-level issue type, worst first; outliers with their nearest images."""
    readable_items = np.sort(table.index[~table["is_unreadable_issue"]].to_numpy())
    sections = []
    for name in IMAGE_ISSUE_SECTIONS:
        if f"is_{name}_issue" not in table:
            continue
        flagged = table[table[f"is_{name}_issue"]].sort_values(f"{name}_score")
        if flagged.empty:
            continue
        shown = flagged.head(limit)
        images = _image_cards(shown, thumbnails)
        for item, card, score in zip(shown.index, images, shown[f"{name}_score"]):
            card["issue_score"] = score
            if name == "outlier":
                card["neighbors"] = _neighbor_cards(item, table, neighbors, readable_items, thumbnails)
        meaning, action = ISSUE_TYPES[name]
        sections.append({"name": name, "count": len(flagged), "meaning": meaning, "action": action, "images": images})
    return sections


def _problem_files(table: pd.DataFrame) -> tuple[list[dict], int]:
    """The first MAX_PROBLEM_ROWS unreadable and invalid files with their reasons, and how many there are."""
    problems = table[table["is_unreadable_issue"]][["path", "given_label", "unreadable_reason"]].rename(
        columns={"unreadable_reason": "problem"})
    if "is_invalid_issue" in table:
        invalid = table[table["is_invalid_issue"]][["path", "given_label", "invalid_reason"]].rename(
            columns={"invalid_reason": "problem"})
        problems = pd.concat([problems, invalid])
    return problems.head(MAX_PROBLEM_ROWS).to_dict("records"), len(problems)


def _borderline(table: pd.DataFrame, thumbnails: Thumbnails, count: int) -> list[dict]:
    """The lowest-scoring readable images that were not flagged: worth a look when flags are few."""
    candidates = table[~table["is_unreadable_issue"] & ~table["is_label_issue"]]
    return _image_cards(candidates.nsmallest(count, "label_score"), thumbnails)


def render_report(
    table: pd.DataFrame,
    classes: list[str],
    noise_rates: np.ndarray,
    noise_matrix: np.ndarray,
    run_record: dict,
    root: Path,
    *,
    images_per_pair: int = 48,
    notes: dict[str, str] | None = None,
    neighbors: Neighbors | None = None,
    run_dir: Path | None = None,
    class_quality: dict[str, dict] | None = None,
) -> str:
    """The report's HTML text. `table` is the issue table; `noise_matrix` (K, K) counts flagged given→suggested
    (multi-label: classes given together on flagged images, with `class_quality` per class); `neighbors` rows are
    the readable items in item order."""
    with Thumbnails(root) as thumbnails:  # made by threads while the page is put together
        multilabel = is_multilabel_table(table)
        table = _for_display(table)
        class_rows = _class_rows(table, classes, noise_rates)
        if multilabel:
            for row in class_rows:  # counted by class, not by label set
                quality = class_quality[row["name"]]
                row.update(quality, flagged=quality["missing"] + quality["extra"])
        readable = table[~table["is_unreadable_issue"]]
        problems, problem_count = _problem_files(table)
        # the cards first: their thumbnails are made while the plots are drawn
        pairs = (_label_set_groups(table, classes, thumbnails, images_per_pair) if multilabel
                 else _pair_groups(table, thumbnails, images_per_pair))
        duplicates = _duplicate_groups(table, thumbnails)
        image_sections = _image_issue_sections(table, thumbnails, neighbors)
        borderline = _borderline(table, thumbnails, 12)
        context = {
            "run": run_record,
            "low_agreement": run_record["config"]["crossval"].get("auto_below", LOW_AGREEMENT),  # older runs lack it
            "classes": class_rows,
            "summary": {
                "images": len(table),
                "classes": len(classes),
                "flagged": int(readable["is_label_issue"].sum()),
                "needs_review": int(table["needs_review"].sum()) if "needs_review" in table else 0,
                "flagged_share": float(readable["is_label_issue"].mean()) if len(readable) else 0.0,
            },
            "types": _type_rows(table, notes or {}),
            "plots": {
                "distribution": plots.png_data_uri(plots.class_distribution(
                    classes, np.array([c["images"] for c in class_rows]), np.array([c["flagged"] for c in class_rows])
                )),
                "noise_matrix": plots.png_data_uri(plots.count_matrix(
                    noise_matrix, classes, rows="given label" if not multilabel else "class given",
                    columns="suggested label" if not multilabel else "class given with it")),
                "scores": plots.png_data_uri(plots.score_histogram(
                    readable["label_score"].to_numpy(float), readable["is_label_issue"].to_numpy(bool)
                )),
            },
            "multilabel": multilabel,
            "pairs": pairs,
            "duplicates": duplicates,
            "image_sections": image_sections,
            "problems": problems,
            "problem_count": problem_count,
            "max_groups": MAX_GROUPS,
            "borderline": borderline,
        }
        if run_dir is not None:
            context["next_commands"] = [f"labelfix review {shlex.quote(str(run_dir))} --open",
                                        f"labelfix apply {shlex.quote(str(run_dir))} --to CLEANED_FOLDER"]
        return _TEMPLATES.get_template("report.html.j2").render(**context)


def write_report(path: Path, **kwargs) -> None:
    """The report at `path`; its commands name `run_dir` (default: the folder of `path`). Non-UTF-8 file names
    are shown with \\xNN escapes."""
    write_text_atomic(path, printable(render_report(**{"run_dir": path.parent, **kwargs})))
