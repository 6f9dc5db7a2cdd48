"""Shared fixtures: synthetic image datasets made in tmp_path, an isolated embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLORS = {"red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 200)}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LABELFIX_CACHE_DIR", str(cache))
    return cache


def color_image(color: tuple[int, int, int], seed: int, size: int = 48) -> Image.Image:
    """A noisy image dominated by `color`, with a random darker rectangle."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(color) + rng.normal(0, 18, (size, size, 3)), 0, 255)
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 3, x : x + size // 3] *= 0.6
    return Image.fromarray(pixels.astype(np.uint8))


def make_color_folders(
    root: Path, per_class: int = 20, flips: dict[str, str] | None = None, first_seed: int = 0
) -> dict[str, str]:
    """Class folders of colour images; `flips` {true_class: filed_under} plants one wrong label each.

    Returns {relative path: true class} of the planted errors.
    """
    planted = {}
    seed = first_seed
    for name, color in COLORS.items():
        for index in range(per_class):
            seed += 1
            folder = name
            if flips and index == 0 and name in flips:
                folder = flips[name]
            (root / folder).mkdir(parents=True, exist_ok=True)
            relative = f"{folder}/{name}_{index:02d}.png"
            color_image(color, seed).save(root / relative)
            if folder != name:
                planted[relative] = name
    return planted


@pytest.fixture
def color_dataset(tmp_path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "colors"
    planted = make_color_folders(root, flips={"red": "blue", "green": "red"})
    return root, planted


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def offline(monkeypatch):
    """No hub access, as on a machine without internet (huggingface_hub reads the variable at import)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
