"""Which images train and which validate: the dataset's own split, a saved split.csv, or a seeded stratified one.

Every image gets a seeded random key from its path alone, so keys do not change when other images are
removed; within each class the lowest keys validate (or are kept by a subset), which makes subsets nested.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from labelfix.dataset import Manifest
from labelfix.errors import ConfigError

TRAIN, VAL, UNUSED = "train", "val", "unused"
SPLIT_FILE = "split.csv"


def image_keys(paths: list[str], seed: int, salt: str) -> np.ndarray:
    """A seeded random number in [0, 1) per path (N,), independent of the other paths."""
    return np.array([
        int.from_bytes(hashlib.blake2b(f"{seed}:{salt}:{path}".encode(), digest_size=8).digest(), "big") / 2**64
        for path in paths
    ])


def lowest_per_class(keys: np.ndarray, labels: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask (N,): in each class, the round(fraction × class size) images with the lowest keys (at least one)."""
    chosen = np.zeros(len(keys), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(fraction * len(members))))
        chosen[members[np.argsort(keys[members], kind="stable")[:count]]] = True
    return chosen


def stratified_split(paths: list[str], labels: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """'train' / 'val' per image (N,), stratified by class; a class with one image only trains."""
    val = lowest_per_class(image_keys(paths, seed, "split"), labels, val_fraction)
    single = np.isin(labels, np.flatnonzero(np.bincount(labels) < 2))
    return np.where(val & ~single, VAL, TRAIN)


def nested_subset(paths: list[str], labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask (N,) of a stratified share of the images; for one seed, a smaller fraction's subset lies inside a larger one's."""
    if fraction >= 1:
        return np.ones(len(paths), dtype=bool)
    return lowest_per_class(image_keys(paths, seed, "subset"), labels, fraction)


def strata(manifest: Manifest) -> np.ndarray:
    """(N,) the class an image is stratified by: its label; for a label set its rarest class (K for no label), so
    that rare classes are split between training and validation like common ones."""
    if not manifest.is_multilabel:
        return manifest.label_indices()
    matrix = manifest.label_matrix()
    counts = matrix.sum(axis=0)
    rarity = np.where(matrix == 1, counts, np.iinfo(np.int64).max)
    return np.where(matrix.any(axis=1), rarity.argmin(axis=1), matrix.shape[1])


def assign_splits(manifest: Manifest, *, val_fraction: float, seed: int, saved: dict[str, str] | None = None) -> np.ndarray:
    """'train' / 'val' / 'unused' per item (N,).

    Order of precedence: a saved split (images it lists keep their split; new images are split among
    themselves), else the dataset's own val split (its test images are unused), else a seeded stratified split.
    """
    paths = [item.path for item in manifest.items]
    labels = strata(manifest)
    if saved is not None:
        known = np.array([path in saved for path in paths])
        splits = np.array([saved.get(path, TRAIN) for path in paths], dtype=object)
        if (~known).any():
            new = np.flatnonzero(~known)
            splits[new] = stratified_split([paths[i] for i in new], labels[new], val_fraction, seed)
    elif any(item.split == VAL for item in manifest.items):
        splits = np.array([VAL if item.split == VAL else UNUSED if item.split == "test" else TRAIN
                           for item in manifest.items], dtype=object)
    else:
        splits = stratified_split(paths, labels, val_fraction, seed).astype(object)
    return splits.astype(str)


def training_mask(manifest: Manifest, splits: np.ndarray, subset_fraction: float, seed: int) -> np.ndarray:
    """Mask (N,) of the images trained on: the train split, or a nested stratified share of it."""
    training = np.flatnonzero(splits == TRAIN)
    paths = [manifest.items[i].path for i in training]
    mask = np.zeros(len(splits), dtype=bool)
    mask[training[nested_subset(paths, strata(manifest)[training], subset_fraction, seed)]] = True
    return mask


def split_csv(manifest: Manifest, splits: np.ndarray, trained: np.ndarray) -> str:
    """The split as CSV text: path, label (a label set as a JSON list), split, trained (0 for train images outside
    a subset)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "split", "trained"])
    for item, split, used in zip(manifest.items, splits, trained):
        label = json.dumps(list(item.labels), ensure_ascii=False) if manifest.is_multilabel else item.label
        writer.writerow([item.path, label, split, int(used)])
    return buffer.getvalue()


def read_split_file(path: Path) -> dict[str, str]:
    """{image path: split} from a split.csv written by an earlier run."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise ConfigError(f"{path}: split file not found; give the split.csv of an earlier training run") from None
    if rows and not {"path", "split"} <= set(rows[0]):
        raise ConfigError(f"{path}: expected columns path and split, found {', '.join(rows[0])}")
    return {row["path"]: row["split"] for row in rows}
