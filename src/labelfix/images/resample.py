"""PIL's resize of 8-bit images reproduced on tensors to the bit, for batches resized where they are (a GPU).

Pillow resamples in two passes, one per axis (`libImaging/Resample.c`): each output pixel is a weighted sum of the
source pixels under the filter, the weights normalised to sum to 1 and held as integers with 22 fractional bits, and
each pass's sums rounded back to 8 bits. The same integer weights as a matrix scaled by 2^-22, applied in float64,
give every product and partial sum exactly (multiples of 2^-22 below 2^10), in any order of summation; rounded the
same way, in the same order of passes, the pixels are PIL's. Which pass comes first depends on Pillow's version (13
runs the vertical one first where the height shrinks more than twice as much as the width; earlier ones always the
horizontal one), so `pass_order` finds it by resizing a test image of each size with PIL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode

PRECISION_BITS = 22  # Pillow's fractional bits of its 8-bit resampling weights
CHUNK = 64  # images resized at a time (64 CIFAR images enlarged to 182 px: 51 MB of float64)


def _bicubic(x: float) -> float:
    """Pillow's bicubic filter (a = -0.5), in its own order of operations."""
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _bilinear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


FILTERS: dict[InterpolationMode, tuple[Callable[[float], float], float]] = {
    InterpolationMode.BICUBIC: (_bicubic, 2.0),
    InterpolationMode.BILINEAR: (_bilinear, 1.0),
}


@lru_cache(maxsize=64)
def pil_weights(in_size: int, out_size: int, interpolation: InterpolationMode) -> np.ndarray:
    """(out_size, in_size) float64: the weight of each source pixel in each output pixel, as Pillow computes it
    (`precompute_coeffs`, then `normalize_coeffs_8bpc`: rounded to integers of PRECISION_BITS fractional bits),
    times 2^-PRECISION_BITS."""
    kernel, support = FILTERS[interpolation]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support *= filter_scale
    weights = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        row = [kernel((x + first - center + 0.5) * (1.0 / filter_scale)) for x in range(count)]
        total = 0.0
        for value in row:  # summed in Pillow's order: the same double
            total += value
        for x, value in enumerate(row):
            value = value / total if total != 0.0 else value
            weights[out, first + x] = int(value * (1 << PRECISION_BITS) + (-0.5 if value < 0 else 0.5))
    return weights / (1 << PRECISION_BITS)


def resize_like_pil(pixels: torch.Tensor, size: tuple[int, int], interpolation: InterpolationMode) -> torch.Tensor:
    """uint8 (..., H, W) resized to `size` (height, width) as PIL's `Image.resize` resizes each image, to the bit,
    where the pixels are. `interpolation`: one of FILTERS. Raises ValueError where `pass_order` finds no match."""
    order = pass_order(tuple(pixels.shape[-2:]), tuple(size), interpolation)
    if order is None:
        raise ValueError(f"this Pillow resamples {tuple(pixels.shape[-2:])} -> {tuple(size)} in a way not reproduced")
    weights = _weights(tuple(pixels.shape[-2:]), size, interpolation, pixels.device)
    if pixels.dim() < 4:
        return _resized(pixels, *weights, vertical_first=order == "vertical")
    return torch.cat([_resized(chunk, *weights, vertical_first=order == "vertical")
                      for chunk in pixels.split(CHUNK)])  # float64 copies of CHUNK images at a time, not the batch's


@lru_cache(maxsize=256)
def pass_order(in_size: tuple[int, int], out_size: tuple[int, int], interpolation: InterpolationMode) -> str | None:
    """"horizontal" or "vertical": the pass the installed Pillow runs first to resize an image of `in_size` (height,
    width) to `out_size` with `interpolation`, found by resizing a test image of random pixels both ways and with
    PIL; None where neither gives PIL's pixels (or the filter is not in FILTERS)."""
    if interpolation not in FILTERS:
        return None
    noise = np.random.default_rng(0).integers(0, 256, (*in_size, 3), dtype=np.uint8)
    resample = Image.Resampling[interpolation.name]
    expected = torch.from_numpy(np.array(Image.fromarray(noise).resize(out_size[::-1], resample))).permute(2, 0, 1)
    pixels = torch.from_numpy(noise).permute(2, 0, 1)
    weights = _weights(in_size, out_size, interpolation, pixels.device)
    for order in ("horizontal", "vertical"):
        if torch.equal(_resized(pixels, *weights, vertical_first=order == "vertical"), expected):
            return order
    return None


def _weights(in_size: tuple[int, int], out_size: tuple[int, int], interpolation: InterpolationMode,
             device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(vertical (out_h, in_h), horizontal transposed (in_w, out_w)) weights on `device`; None for an axis whose
    size does not change (Pillow skips its pass)."""
    (in_height, in_width), (out_height, out_width) = in_size, out_size
    vertical = (None if in_height == out_height
                else torch.from_numpy(pil_weights(in_height, out_height, interpolation)).to(device))
    horizontal = (None if in_width == out_width
                  else torch.from_numpy(pil_weights(in_width, out_width, interpolation).T.copy()).to(device))
    return vertical, horizontal


def _resized(pixels: torch.Tensor, vertical: torch.Tensor | None, horizontal: torch.Tensor | None, *,
             vertical_first: bool) -> torch.Tensor:
    floats = pixels.to(torch.float64)
    for axis in ("vertical", "horizontal") if vertical_first else ("horizontal", "vertical"):
        if axis == "vertical" and vertical is not None:
            floats = _rounded(vertical @ floats)
        elif axis == "horizontal" and horizontal is not None:
            floats = _rounded(floats @ horizontal)
    return floats.to(torch.uint8)


def _rounded(sums: torch.Tensor) -> torch.Tensor:
    """A pass's sums rounded to 8 bits as Pillow rounds them (half up, then clipped to 0-255)."""
    return sums.add_(0.5).floor_().clamp_(0, 255)
