"""A tiny trained model for the commands that read a checkpoint (predict, evaluate, compare, lr-find)."""

from __future__ import annotations

import pytest

from helpers import make_color_folders, run_cli


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_weights):
    """Colour folders and test_efficientnet trained on them at 32 px, through `labelfix train`."""
    folder = tmp_path_factory.mktemp("cli")
    make_color_folders(folder / "colors", per_class=10)  # what trains reliably to 100% at 32 px
    (folder / "tiny.pth").write_bytes(tiny_weights.read_bytes())
    (folder / "train.yaml").write_text(
        "model:\n  name: test_efficientnet\n  image_size: 32\ndata:\n  workers: 0\n  batch_size: 8\n"
        "schedule:\n  epochs: 20\n  lr: 0.03\n"
    )
    result, output = run_cli("train", folder / "colors", "--config", folder / "train.yaml", "--weights",
                             folder / "tiny.pth", "--out", folder / "run", "--no-progress")
    assert result.exit_code == 0, output
    return folder, output
