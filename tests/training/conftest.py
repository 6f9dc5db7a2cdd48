"""Training on tiny synthetic colour images with a tiny random-weight timm model (test_efficientnet, 32 px)."""

from __future__ import annotations

import pytest

from helpers import make_color_folders
from labelfix.config import load_train_config


@pytest.fixture(scope="session")
def colors(tmp_path_factory):
    """24 colour images in class folders (8 per class)."""
    root = tmp_path_factory.mktemp("data") / "colors"
    make_color_folders(root, per_class=8)
    return root


@pytest.fixture
def tiny_config(tiny_weights):
    """A training config for test_efficientnet at 32 px: `tiny_config(out, **{"section.key": value})`."""

    def make(out=None, **overrides):
        values = {"model.name": "test_efficientnet", "model.weights": tiny_weights, "model.image_size": 32,
                  "data.workers": 0, "data.batch_size": 8, "schedule.epochs": 2, "schedule.freeze_epochs": 1,
                  "schedule.lr": 1e-2, "out": out}
        return load_train_config(None, {**values, **overrides})

    return make
