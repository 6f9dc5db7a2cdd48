"""Image-health issues from the statistics of the decode pass: pure functions over arrays.

Every check returns (is_issue (N,) bool, score (N,) float in [0, 1], lower is worse).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np

EXPECTED_FORMATS = {
    ".jpg": {"JPEG", "MPO"}, ".jpeg": {"JPEG", "MPO"}, ".png": {"PNG"}, ".webp": {"WEBP"}, ".bmp": {"BMP", "DIB"},
    ".gif": {"GIF"}, ".tif": {"TIFF"}, ".tiff": {"TIFF"},
}


def below(score: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    score = np.clip(np.nan_to_num(score, nan=1.0), 0.0, 1.0)
    return score < threshold, score


def dark(brightness_p99: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Score: the 99th-percentile brightness; near-black frames score near 0."""
    return below(brightness_p99, threshold)


def light(brightness_p1: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Score: 1 - the 1st-percentile brightness; washed-out, near-white images score near 0."""
    return below(1.0 - brightness_p1, threshold)


def blurry(sharpness: np.ndarray, threshold: float, *, scale: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Score: standard deviation of the Laplacian / `scale`, capped at 1."""
    return below(sharpness / scale, threshold)


def low_information(entropy: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Score: grayscale entropy / 8 bits. Blank frames and placeholders ('image not found') score lowest."""
    return below(entropy / 8.0, threshold)


def grayscale(colorfulness: np.ndarray, threshold: float, *, scale: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Score: mean channel difference / `scale`, capped at 1; grayscale images score 0."""
    return below(colorfulness / scale, threshold)


def odd_size(width: np.ndarray, height: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Score: min(r, 1/r) for r = sqrt(area) / the dataset's median sqrt(area)."""
    side = np.sqrt(width.astype(np.float64) * height)
    ratio = side / max(np.nanmedian(side), 1.0)
    return below(np.minimum(ratio, 1.0 / np.maximum(ratio, 1e-9)), threshold)


def odd_aspect_ratio(width: np.ndarray, height: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Score: min(w/h, h/w); a 1:4 strip scores 0.25."""
    w, h = width.astype(np.float64), height.astype(np.float64)
    return below(np.minimum(w, h) / np.maximum(np.maximum(w, h), 1.0), threshold)


def invalid_reasons(path: str, stats: dict, *, max_pixels: int, min_side: int, max_side: int) -> list[str]:
    """Why a readable file is still not a sound image: wrong extension, animation, extreme size."""
    if not stats:
        return []
    reasons = []
    suffix = PurePosixPath(path).suffix.lower()
    found = stats.get("format", "")
    if found and suffix in EXPECTED_FORMATS and found not in EXPECTED_FORMATS[suffix]:
        reasons.append(f"{found} data in a {suffix} file")
    if stats.get("frames", 1) > 1:
        reasons.append(f"animated ({stats['frames']} frames; the first is used)")
    width, height = stats["width"], stats["height"]
    if width * height > max_pixels:
        reasons.append(f"huge ({width}x{height} pixels, over {max_pixels:,})")
    if min(width, height) < min_side:
        reasons.append(f"tiny ({width}x{height}; a side under {min_side} px)")
    elif max(width, height) > max_side:
        reasons.append(f"extreme size ({width}x{height}; a side over {max_side} px)")
    return reasons


def common_to_the_dataset(is_issue: np.ndarray, max_prevalence: float) -> bool:
    """A property of most images (all grayscale, all tiny) is the dataset's nature, not an issue."""
    return bool(is_issue.mean() > max_prevalence) if len(is_issue) else False
