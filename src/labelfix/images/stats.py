"""Image statistics computed in the decode pass (no second read): pure functions of a PIL image."""

from __future__ import annotations

import numpy as np
from PIL import Image

STATS_SIDE = 256  # statistics are computed on a copy at most this large


def grayscale_entropy(gray: np.ndarray) -> float:
    """Shannon entropy in bits (0..8) of an 8-bit grayscale histogram: near 0 for blank images."""
    histogram = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p = histogram[histogram > 0] / gray.size
    return float(-(p * np.log2(p)).sum())


def image_statistics(image: Image.Image) -> dict[str, float]:
    """Size, mean brightness (0..1) and entropy of an RGB image."""
    small = image.copy()
    small.thumbnail((STATS_SIDE, STATS_SIDE))
    gray = np.asarray(small.convert("L"))
    return {
        "width": image.width,
        "height": image.height,
        "brightness": round(float(gray.mean()) / 255.0, 4),
        "entropy": round(grayscale_entropy(gray), 4),
    }
