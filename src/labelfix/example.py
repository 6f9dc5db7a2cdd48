"""Bundled example: scikit-learn's handwritten digits as PNG class folders with known flipped labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from labelfix.errors import DatasetError
from labelfix.fileio import atomic_path

TRUTH_FILE = "planted_errors.csv"


def write_digits_example(folder: Path, *, noise: float = 0.05, seed: int = 0, size: int = 32) -> int:
    """Write `folder/<digit>/<n>.png` with a `noise` share of images filed under a wrong digit.

    The flipped images are listed in `folder/planted_errors.csv` (path, true_label, given_label).
    Returns the number of planted errors.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    n = len(digits.target)
    flipped = rng.choice(n, size=int(round(noise * n)), replace=False)
    given = digits.target.copy()
    given[flipped] = (given[flipped] + rng.integers(1, 10, size=len(flipped))) % 10
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (pixels, label) in enumerate(zip(digits.images, given)):
        image = Image.fromarray((255 - pixels * 255 / 16).astype(np.uint8), mode="L").resize((size, size), Image.Resampling.BICUBIC)
        relative = f"{label}/{index:04d}.png"
        (folder / str(label)).mkdir(exist_ok=True)
        image.save(folder / relative)
        if label != digits.target[index]:
            rows.append((relative, int(digits.target[index]), int(label)))
    with atomic_path(folder / TRUTH_FILE) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true_label", "given_label"])
        writer.writerows(rows)
    return len(rows)


def score_against_truth(dataset: Path, issues_csv: Path) -> dict[str, float]:
    """Precision and recall of a run's flags against the example's planted errors."""
    truth_path = dataset / TRUTH_FILE
    if not truth_path.is_file():
        raise DatasetError(f"{truth_path}: no planted-errors file; write the example with `labelfix example digits`")
    if not issues_csv.is_file():
        raise DatasetError(f"{issues_csv}: not found; run `labelfix scan` first and give its run folder")
    with truth_path.open() as handle:
        planted = {row["path"] for row in csv.DictReader(handle)}
    with issues_csv.open() as handle:
        flagged = {row["path"] for row in csv.DictReader(handle) if row["is_label_issue"] == "True"}
    found = len(planted & flagged)
    return {
        "planted": len(planted),
        "flagged": len(flagged),
        "found": found,
        "recall": found / len(planted) if planted else 0.0,
        "precision": found / len(flagged) if flagged else 0.0,
    }
