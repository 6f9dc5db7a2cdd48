"""Image statistics computed in the decode pass (no second read): pure functions of pixels.

Bump STATS_VERSION when what is computed changes: cached statistics of older versions are recomputed.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

STATS_VERSION = 6
STATS_SIDE = 256  # an image longer than 1.5 times this is measured on a copy reduced to about this (192-319 px)


def grayscale_entropy(gray: np.ndarray, histogram: np.ndarray | None = None) -> float:
    """Shannon entropy in bits (0..8) of an 8-bit grayscale histogram: near 0 for blank images."""
    histogram = (np.bincount(gray.ravel(), minlength=256) if histogram is None else histogram).astype(np.float64)
    p = histogram[histogram > 0] / gray.size
    return float(-(p * np.log2(p)).sum())


def histogram_percentiles(histogram: np.ndarray, q: list[float]) -> np.ndarray:
    """`np.percentile(values, q)` (its default linear method, to the last bit) of the 8-bit values counted by
    `histogram`, without sorting them: a quarter of the statistics' time went into np.percentile."""
    count = int(histogram.sum())
    position = (count - 1) * (np.asarray(q, dtype=np.float64) / 100)
    below = np.floor(position)
    above = np.minimum(below + 1, count - 1)
    cumulative = np.cumsum(histogram)
    low = np.searchsorted(cumulative, below, side="right").astype(np.float64)
    high = np.searchsorted(cumulative, above, side="right").astype(np.float64)
    weight = position - below
    difference = high - low
    return np.where(weight >= 0.5, high - difference * (1 - weight), low + difference * weight)  # numpy's _lerp


def laplacian_std(gray: np.ndarray) -> float:
    """Standard deviation of the 4-neighbour Laplacian of a grayscale image in [0, 1]: low when blurry (computed on
    the integers)."""
    if min(gray.shape) < 3:
        return 0.0
    g = gray.astype(np.int16)
    laplacian = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(laplacian.std(dtype=np.float64) / 255)


def colorfulness(rgb: np.ndarray) -> float:
    """Mean absolute difference between colour channels in [0, 1]: 0 for grayscale images (computed on the
    integers)."""
    channels = rgb.astype(np.int16)
    total = (np.abs(channels[..., 0] - channels[..., 1]).sum(dtype=np.int64)
             + np.abs(channels[..., 1] - channels[..., 2]).sum(dtype=np.int64))
    return float(total / (2 * 255 * rgb.shape[0] * rgb.shape[1]))


def pixel_hash(pixels: np.ndarray, stored_size: tuple[int, int] | None = None) -> str:
    """Hash of decoded RGB pixels (H, W, 3) and their size: equal for the same picture saved in different files or
    formats. Pixels of a reduced copy (`image_statistics`'s, or an image decoded reduced: `open_image`'s
    `at_least`) are hashed with the size as stored too: equal for the same picture in different files."""
    height, width = pixels.shape[:2]
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{width}x{height}".encode())
    if stored_size is not None and stored_size != (width, height):
        digest.update(f" of {stored_size[0]}x{stored_size[1]}".encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def image_statistics(image: Image.Image, facts: dict | None = None) -> dict:
    """Everything the health and duplicate checks need, from one decoded RGB image (`facts` as `open_image` gives
    them: the size is the stored one also where the image was decoded reduced).

    An image more than about 1.5 times `STATS_SIDE` long is measured, and hashed, on a copy reduced by a whole
    factor with a box filter: sharpness is then measured at about one scale whatever the image's size, and a
    500-pixel photo's statistics cost 1.6 ms instead of 3.9 on every pixel, about its decode's time. Its pixel hash is
    then the reduced copy's: equal for pictures whose every 2×2 (or larger) block of pixels averages the same, so
    also for two copies of a photo that differ only by invisible noise."""
    facts = facts or {}
    width, height = facts.get("width", image.width), facts.get("height", image.height)
    factor = (max(width, height) + STATS_SIDE // 2) // STATS_SIDE  # the nearest whole factor
    if factor <= 1:
        small = image
    elif image.size == (width, height):
        small = image.reduce(factor)  # a fast box filter
    else:  # decoded reduced: a box filter to the same size, so that sharpness is measured at the same scale
        size = (-(-width // factor), -(-height // factor))
        # decoded smaller still (a model with a small input): measured as decoded, never enlarged (a blur)
        small = image.resize(size, Image.Resampling.BOX) if size[0] <= image.width else image
    rgb = np.asarray(small)
    gray_image = small.convert("L")
    gray = np.asarray(gray_image)
    histogram = np.asarray(gray_image.histogram())  # PIL's count: np.bincount widens every pixel to 64 bits first
    p1, p99 = histogram_percentiles(histogram, [1, 99]) / 255.0
    return {
        **facts,
        "width": width,
        "height": height,
        "brightness": round(float(gray.mean()) / 255.0, 4),
        "brightness_p1": round(float(p1), 4),
        "brightness_p99": round(float(p99), 4),
        "entropy": round(grayscale_entropy(gray, histogram), 4),
        "sharpness": round(laplacian_std(gray), 5),
        "colorfulness": round(colorfulness(rgb), 5),
        "pixel_hash": pixel_hash(rgb, (width, height)),
    }
