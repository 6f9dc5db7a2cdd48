"""Issue finders: pure functions over labels, probabilities, embeddings and image statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CheckResult:
    """One issue type over all N images: flags, scores in [0, 1] (lower is worse) and extra columns."""

    is_issue: np.ndarray  # (N,) bool
    score: np.ndarray  # (N,) float; NaN where the check does not apply (unreadable images)
    details: dict[str, np.ndarray] = field(default_factory=dict)  # extra issues.csv columns, (N,) each
    note: str = ""  # shown in the report, e.g. why nothing was flagged


def spread(values: np.ndarray, rows: np.ndarray, n: int, fill=None) -> np.ndarray:
    """Values of the readable `rows` placed into an (N,) array; the rest get `fill`, by default by dtype:
    -1 for integers, NaN for floats, False for booleans, None for anything else."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if fill is None:
        fill = {"i": -1, "f": np.nan, "b": False}.get(kind)
    full = np.full(n, fill, dtype=values.dtype if kind in "ifb" else object)
    full[rows] = values
    return full
