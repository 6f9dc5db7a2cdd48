"""Synthetic datasets for the tests: noisy colour images in class folders or label files, made in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 200)}
HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"  # a file name that is HTML: pages must show it as text
RUN_FILES = ("labelfix.db", "run.json", "issues.csv", "corrected_labels.jsonl", "report.html")


def color_image(color: tuple[int, int, int], seed: int, size: int = 48) -> Image.Image:
    """A noisy image dominated by `color`, with a random darker rectangle."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color) + rng.normal(0, 18, (size, size, 3)), 0, 255)
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 3, x : x + size // 3] *= 0.6
    return Image.fromarray(pixels.astype(np.uint8))


def make_color_folders(
    root: Path, per_class: int = 20, flips: dict[str, str] | None = None, first_seed: int = 0
) -> dict[str, str]:
    """Class folders of colour images; `flips` {true_class: filed_under} plants one wrong label each.

    Returns {relative path: true class} of the planted errors.
    """
    planted = {}
    seed = first_seed
    for name, color in COLORS.items():
        for index in range(per_class):
            seed += 1
            folder = name
            if flips and index == 0 and name in flips:
                folder = flips[name]
            (root / folder).mkdir(parents=True, exist_ok=True)
            relative = f"{folder}/{name}_{index:02d}.png"
            color_image(color, seed).save(root / relative)
            if folder != name:
                planted[relative] = name
    return planted


def make_color_sets(root: Path, per_pair: int = 6, planted: dict[int, tuple[str, str]] | None = None) -> tuple[Path, dict]:
    """A multi-label labels.jsonl: images whose two halves are two colours (or one colour twice), labelled with the
    set of colours shown. `planted` {image number: ("missing" | "extra", colour)} drops a shown colour from, or adds
    an absent one to, that image's set. Returns the label file and {image path: (kind, colour)}."""
    planted = planted or {}
    names = list(COLORS)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i:]]
    records, truth = [], {}
    (root / "images").mkdir(parents=True, exist_ok=True)
    for number in range(per_pair * len(pairs)):
        left, right = pairs[number % len(pairs)]
        pixels = np.concatenate([np.asarray(color_image(COLORS[left], 2 * number)),
                                 np.asarray(color_image(COLORS[right], 2 * number + 1))], axis=1)
        path = f"images/{number:03d}.png"
        Image.fromarray(pixels).save(root / path)
        labels = sorted({left, right})
        if number in planted:
            kind, name = planted[number]
            changed = sorted(set(labels) - {name}) if kind == "missing" else sorted({*labels, name})
            assert changed != labels, f"planting {kind} {name} does not change image {number}'s set {labels}"
            labels = changed
            truth[path] = (kind, name)
        records.append({"image": path, "label": labels})
    return write_jsonl(root / "labels.jsonl", records), truth


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def file_states(root: Path) -> dict[Path, tuple[bytes, int]]:
    """(bytes, modification time) of every file under `root`: equal before and after means untouched."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def copy_run(run_dir: Path, destination: Path) -> Path:
    """A copy of a scan's run folder, for a test that records decisions or re-scans into it."""
    destination.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(run_dir / name, destination / name)
    return destination


def review_queue(run_dir):
    """The run's review queue and class names, read from its store."""
    from labelfix import store

    db = store.open_store(run_dir)
    try:
        return store.review_queue(db), store.read_classes(db)
    finally:
        db.close()


def label_flag(run_dir, path_part: str) -> int:
    """The item id of the one flagged label issue whose path contains `path_part`."""
    queue, _ = review_queue(run_dir)
    rows = queue[queue["path"].str.contains(path_part, regex=False) & queue["issue_types"].map(lambda t: "label" in t)]
    assert len(rows) == 1, queue[["path", "issue_types"]]
    return int(rows["item_id"].iloc[0])


def run_cli(*args):
    """Run `labelfix ARGS...` in-process (typer's CliRunner); returns (result, output)."""
    from typer.testing import CliRunner

    from labelfix.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result, result.output


def blobs(n_per_class: int, n_classes: int, seed: int = 0, separation: float = 4.0):
    """Features (N, 8) of `n_classes` Gaussian blobs `separation` apart, and their labels (N,)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return rng.normal(0, 1, (len(labels), 8)) + separation * np.eye(n_classes, 8)[labels], labels

LOCAL = "http://127.0.0.1:8765"  # the review server's default address, as a test client's base URL


def review_client(app, base_url: str = LOCAL):
    """A test client of a review app that sends the run id with each change, as the page does."""
    from fastapi.testclient import TestClient

    from labelfix.review.app import RUN_HEADER

    return TestClient(app, base_url=base_url, headers={RUN_HEADER: app.state.session.run_id})
