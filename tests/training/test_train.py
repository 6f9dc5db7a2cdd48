"""`train` end to end: the run folder, learning beyond chance, reproducibility."""

from __future__ import annotations

import json

import pytest

from labelfix.training.callbacks import tensorboard_available
from labelfix.training.train import train


def test_train_writes_the_run_folder_and_evaluates_the_best_epoch(colors, tiny_config, tmp_path, caplog):
    options = {"regularization.ema_decay": 0.9, "tensorboard": True}
    result = train(colors, tiny_config(tmp_path / "run", **options))
    if tensorboard_available():  # a test dependency: CI takes this branch
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(result.run_dir / "tensorboard")).Reload()
        assert {"val_accuracy", "train_loss"} <= {tag.rsplit("/", 1)[-1] for tag in events.Tags()["scalars"]}
    else:
        assert "tensorboard logging skipped" in caplog.text
    names = {"config.yaml", "split.csv", "metrics.csv", "curves.png", "checkpoint.pt", "evaluation.json",
             "confusion_matrix.png", "run.json"}
    assert names <= {p.name for p in result.run_dir.iterdir()}
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    best = max(result.metrics, key=lambda row: (row["val_accuracy"], -row["val_loss"]))
    assert evaluation["checkpoint_epoch"] == best["epoch"]
    assert evaluation["accuracy"] == pytest.approx(best["val_accuracy"])
    assert evaluation["images"] == 6 and set(evaluation["per_class"]) == {"blue", "green", "red"}
    assert "top5_accuracy" not in evaluation
    record = json.loads((result.run_dir / "run.json").read_text())
    assert "CUBLAS_WORKSPACE_CONFIG" in record["determinism"]["gpu"] and record["lr"] == 1e-2


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(colors, tiny_config, tmp_path):
    options = {"regularization.mixup": 0.4, "regularization.cutmix": 0.4, "data.balance": True,
               "augment.rotation": 10.0, "augment.color_jitter": 0.3}
    runs = [train(colors, tiny_config(tmp_path / name, seed=seed, **options)).run_dir
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    first, second, other = ((run / "metrics.csv").read_text() for run in runs)
    assert first == second
    assert first != other


def test_the_network_learns_the_colours(colors, tiny_config, tmp_path):
    """Chance is 1/3: a network that learned nothing fails."""
    config = tiny_config(tmp_path / "run", **{"schedule.epochs": 10, "schedule.lr": 0.03, "data.val_fraction": 0.25})
    result = train(colors, config)
    assert result.evaluation["images"] == 6 and result.evaluation["accuracy"] >= 0.8
    losses = [row["train_loss"] for row in result.metrics]
    assert losses[-1] < losses[0]
