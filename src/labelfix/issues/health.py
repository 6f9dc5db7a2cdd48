"""Image-health issues from the statistics of the decode pass."""

from __future__ import annotations

import numpy as np


def low_information(entropy: np.ndarray, *, threshold: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(is_issue, score) per image from grayscale entropy in bits (N,); score = entropy / 8 in [0, 1].

    Blank frames, placeholders ("image not found" graphics) and near-uniform images score lowest;
    photos score 0.5 to 1.
    """
    score = np.clip(np.nan_to_num(entropy, nan=8.0) / 8.0, 0.0, 1.0)
    return score < threshold, score
