import random

import numpy as np
import torch

from labelfix.seeding import numpy_global_state, seed_everything


def test_seed_everything_fixes_python_and_torch_and_leaves_numpy_alone():
    np.random.seed(5)
    numpy_before = np.random.get_state()[1].copy()
    seed_everything(3)
    first = (random.random(), torch.rand(1).item())
    seed_everything(3)
    assert (random.random(), torch.rand(1).item()) == first
    assert np.array_equal(np.random.get_state()[1], numpy_before)


def test_draws_from_numpy_global_generator_come_from_the_given_state():
    np.random.seed(5)
    outside = np.random.get_state()[1].copy()
    state = np.random.RandomState(11)
    with numpy_global_state(state):
        first = np.random.rand(3)
    with numpy_global_state(state):
        second = np.random.rand(3)  # the state advanced: the next draws
    assert np.array_equal(np.concatenate([first, second]), np.random.RandomState(11).rand(6))
    assert np.array_equal(np.random.get_state()[1], outside)
