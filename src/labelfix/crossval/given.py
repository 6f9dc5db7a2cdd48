"""Out-of-fold probabilities the user computed (`scan --pred-probs FILE`), read and checked against the dataset.

A cleanlab user often has them already, from their own k-fold loop: labelfix then skips its cross-validation and
does the rest (label issues, duplicates, outliers, health, report, review, apply).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.crossval.probabilities import FLOOR
from labelfix.dataset import Manifest
from labelfix.dataset.readers import PathsUnder
from labelfix.errors import DatasetError

PATH_COLUMNS = ("image", "path")


def read_pred_probs(path: Path, manifest: Manifest) -> np.ndarray:
    """(N, K) probabilities in `manifest` order and `manifest.classes` order, from a .npy (N, K) array in dataset
    order, or a CSV with an image (or path) column and one column per class name. Rows are renormalised."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"--pred-probs {path}: no such file")
    if path.suffix.lower() == ".npy":
        probabilities = _from_npy(path, manifest)
    elif path.suffix.lower() == ".csv":
        probabilities = _from_csv(path, manifest)
    else:
        raise DatasetError(f"--pred-probs {path}: give a .npy array (N, K) in dataset order or a CSV keyed by image path")
    return _checked(probabilities, path, multilabel=manifest.is_multilabel)


def _from_npy(path: Path, manifest: Manifest) -> np.ndarray:
    try:
        probabilities = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DatasetError(f"--pred-probs {path}: not a numpy array file ({error})") from None
    expected = (len(manifest), len(manifest.classes))
    if probabilities.shape != expected:
        raise DatasetError(
            f"--pred-probs {path}: shape {probabilities.shape}, but the dataset has {expected[0]} images and "
            f"{expected[1]} classes; rows in dataset order (as issues.csv lists item ids), columns in the order "
            f"{', '.join(manifest.classes)}")
    return probabilities.astype(float)


def _from_csv(path: Path, manifest: Manifest) -> np.ndarray:
    table = pd.read_csv(path, dtype={column: str for column in PATH_COLUMNS})
    key = next((column for column in PATH_COLUMNS if column in table), None)
    if key is None:
        raise DatasetError(f"--pred-probs {path}: no image column (name one of {', '.join(PATH_COLUMNS)})")
    missing_classes = [name for name in manifest.classes if name not in table]
    if missing_classes:
        raise DatasetError(f"--pred-probs {path}: no column for the classes {', '.join(missing_classes[:5])}; "
                           f"give one column per class: {', '.join(manifest.classes)}")
    paths = PathsUnder(manifest.root)
    rows = {paths.relative(value, str(path)): i for i, value in enumerate(table[key])}
    absent = [item.path for item in manifest.items if item.path not in rows]
    if absent:
        raise DatasetError(f"--pred-probs {path}: no row for {len(absent)} images of the dataset (e.g. {absent[0]})")
    order = [rows[item.path] for item in manifest.items]
    return table.loc[order, list(manifest.classes)].to_numpy(float)


def _checked(probabilities: np.ndarray, path: Path, *, multilabel: bool = False) -> np.ndarray:
    bad = ~np.isfinite(probabilities).all(axis=1) | (probabilities < 0).any(axis=1)
    if bad.any():
        raise DatasetError(f"--pred-probs {path}: row {int(np.flatnonzero(bad)[0])} has a negative or missing value")
    if multilabel:
        above = (probabilities > 1).any(axis=1)
        if above.any():
            raise DatasetError(f"--pred-probs {path}: row {int(np.flatnonzero(above)[0])} has a value above 1: give "
                               "each class's probability (a sigmoid), not logits")
        return np.clip(probabilities, FLOOR, 1 - FLOOR)
    sums = probabilities.sum(axis=1, keepdims=True)
    if (sums <= 0).any() or (np.abs(sums - 1) > 0.01).any():
        row = int(np.flatnonzero((sums <= 0) | (np.abs(sums - 1) > 0.01))[0])
        raise DatasetError(f"--pred-probs {path}: row {row} sums to {float(sums[row, 0]):.3g}, not 1: give "
                           "probabilities (a softmax), not logits")
    return probabilities / sums
