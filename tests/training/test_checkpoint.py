import torch

from labelfix.training.checkpoint import load_checkpoint, save_checkpoint
from labelfix.training.network import build_network


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, tiny_config):
    network = build_network(tiny_config().model, 3, 0)
    images = torch.rand(4, 3, 32, 32)
    network.module.eval()
    expected = network.module(images)
    save_checkpoint(tmp_path / "c.pt", network.module, architecture=network.architecture, classes=["a", "b", "c"],
                    data_config=network.data_config, config={"seed": 0}, metrics={"epoch": 1})
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.classes == ["a", "b", "c"] and loaded.data_config["input_size"] == (3, 32, 32)
    torch.testing.assert_close(loaded.network(images), expected)
