"""The Manifest: every image of a dataset with its labels and split, independent of the file format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from labelfix.errors import DatasetError


@dataclass(frozen=True)
class Item:
    """One image: its path relative to the manifest root, its labels (one for single-label) and split."""

    path: str
    labels: tuple[str, ...]
    split: str | None = None
    source_line: int | None = None  # line (or row) of the label file that named it

    @property
    def label(self) -> str:
        if len(self.labels) != 1:
            raise DatasetError(f"{self.path}: expected exactly one label, found {list(self.labels)}")
        return self.labels[0]


@dataclass(frozen=True)
class Manifest:
    """A dataset: `root` folder, its items in a stable order, and where the labels came from.

    `source` is one of "folders", "jsonl", "csv", "regex"; `label_file` is the JSONL/CSV file, if any.
    """

    root: Path
    items: tuple[Item, ...]
    source: str
    label_file: Path | None = None
    options: dict = field(default_factory=dict, compare=False)
    multilabel: bool = False  # label sets (lists, a separator, --task multilabel), even where each has one label

    def __len__(self) -> int:
        return len(self.items)

    @property
    def name(self) -> str:
        return self.root.resolve().name or "dataset"

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """Sorted class names over all items."""
        return tuple(sorted({label for item in self.items for label in item.labels}))

    @cached_property
    def is_multilabel(self) -> bool:
        return self.multilabel or any(len(item.labels) != 1 for item in self.items)

    @property
    def paths(self) -> list[Path]:
        return [self.root / item.path for item in self.items]

    def label_indices(self) -> np.ndarray:
        """Class index of each item's single label, shape (N,)."""
        if self.is_multilabel:
            raise DatasetError("this dataset has label sets (multi-label); this step needs one label per image")
        index = {name: i for i, name in enumerate(self.classes)}
        return np.array([index[item.labels[0]] for item in self.items], dtype=np.int64)

    def label_matrix(self, classes: Sequence[str] | None = None) -> np.ndarray:
        """(N, K) 0/1 matrix: whether each item is given each class (multi-label and single-label alike), columns in
        the order of `classes` (default: the manifest's; each item's labels must be among them)."""
        classes = self.classes if classes is None else classes
        index = {name: i for i, name in enumerate(classes)}
        matrix = np.zeros((len(self.items), len(classes)), dtype=np.int8)
        for row, item in enumerate(self.items):
            matrix[row, [index[label] for label in item.labels]] = 1
        return matrix

    def splits(self) -> list[str | None]:
        return [item.split for item in self.items]
