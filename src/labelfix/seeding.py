"""One seed fixes every random source that is not seeded where it is used: Python's and torch's global ones.

Folds, heads, samplers and splits take their seed explicitly (numpy Generators, sklearn's `random_state`,
torch Generators). numpy's legacy global state is never seeded: code of other libraries that draws from it
(timm's MixUp) runs inside `numpy_global_state` with a generator of its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's `random` and torch's global generators (CPU and CUDA)."""
    random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def numpy_global_state(state: np.random.RandomState) -> Iterator[None]:
    """Draws from numpy's legacy global generator inside the block come from `state` (which advances); the global
    state is as it was afterwards (numpy's counterpart of `torch.random.fork_rng`)."""
    saved = np.random.get_state()
    np.random.set_state(state.get_state())
    try:
        yield
    finally:
        state.set_state(np.random.get_state())
        np.random.set_state(saved)


@contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Inside the block Python's `random` and torch's global generators start from `seed` (augmentation drawn in
    the main process, `workers: 0`); outside it they are as they were."""
    saved = random.getstate()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
        seed_everything(seed)
        try:
            yield
        finally:
            random.setstate(saved)
