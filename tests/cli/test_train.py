"""`labelfix train` and `labelfix lr-find`."""

from __future__ import annotations

from helpers import run_cli


def test_train_prints_epochs_and_run_folder(trained):
    folder, output = trained
    assert "Run folder" in output and "val acc" in output and "peak lr" in output
    epochs = [line for line in output.splitlines() if line.startswith("epoch ")]  # one line as each epoch ends
    assert len(epochs) == 20 and epochs[-1].startswith("epoch 20/20")
    config = (folder / "run" / "config.yaml").read_text()
    assert "image_size: 32" in config and "lr: 0.03" in config


def test_lr_find_suggestion_lies_in_the_sweep_and_is_plotted(trained, tmp_path):
    folder, _ = trained
    from labelfix.config import load_train_config
    from labelfix.training.lr_finder import lr_find

    config = load_train_config(folder / "train.yaml", {"model.weights": folder / "tiny.pth"})
    sweep = lr_find(folder / "colors", config, tmp_path / "lr.png", steps=10)
    assert sweep.lrs.min() <= sweep.suggestion <= sweep.lrs.max() and (tmp_path / "lr.png").stat().st_size > 1000
    result, output = run_cli("lr-find", folder / "colors", "--config", folder / "train.yaml", "--weights",
                          folder / "tiny.pth", "--steps", 8, "--output", tmp_path / "cli.png")
    assert result.exit_code == 0, output
    assert "Suggested learning rate" in output and (tmp_path / "cli.png").is_file()
