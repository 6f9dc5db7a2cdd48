"""Training on tiny synthetic colour images with a tiny random-weight timm model (test_efficientnet, 32 px)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from conftest import make_color_folders

from labelfix.config import OptimizerConfig, ScheduleConfig, load_train_config
from labelfix.training.callbacks import tensorboard_available
from labelfix.training.checkpoint import load_checkpoint, save_checkpoint
from labelfix.training.distributed import Context
from labelfix.training.loop import Trainer, backbone_parameters, head_parameters, parameter_groups
from labelfix.training.run import batches_for_training, build_network, read_training_set, train
from labelfix.training.schedule import Schedule, make_optimizer


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("test_efficientnet").state_dict(), path)
    return path


@pytest.fixture(scope="module")
def colors(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "colors"
    make_color_folders(root, per_class=8)
    return root


def tiny_config(weights, out=None, **overrides):
    values = {"model.name": "test_efficientnet", "model.weights": weights, "model.image_size": 32, "data.workers": 0,
              "data.batch_size": 8, "schedule.epochs": 2, "schedule.freeze_epochs": 1, "schedule.lr": 1e-2, "out": out}
    return load_train_config(None, {**values, **overrides})


def test_one_cycle_rises_then_falls_in_each_phase():
    layer = torch.nn.Linear(2, 2)
    optimizer = make_optimizer([{"params": layer.parameters(), "lr": 0.1}], OptimizerConfig())
    schedule = Schedule(optimizer, ScheduleConfig(warmup_fraction=0.25), total_steps=40)
    lrs = []
    for _ in range(40):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.after_step()
    peak = int(np.argmax(lrs))
    assert 8 <= peak <= 12 and lrs[peak] == pytest.approx(0.1)
    assert np.all(np.diff(lrs[: peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[-1] < 1e-4


def test_trainer_records_a_one_cycle_per_phase_and_steps_with_accumulation(colors, tiny_weights):
    config = tiny_config(tiny_weights, **{"schedule.epochs": 2, "schedule.accumulate_steps": 2, "data.batch_size": 4})
    data = read_training_set(colors, config)
    network = build_network(config, 3)
    train_batches, val_batches = batches_for_training(data, network, config, Context())
    trainer = Trainer(network.module, train_batches, val_batches, config, lr=1e-2)
    trainer.fit()
    steps_per_epoch = -(-len(train_batches) // 2)
    assert trainer.step == 2 * steps_per_epoch
    frozen, unfrozen = trainer.lr_history[:steps_per_epoch], trainer.lr_history[steps_per_epoch:]
    for lrs in (frozen, unfrozen):
        peak = int(np.argmax(lrs))
        assert lrs[peak] == pytest.approx(1e-2) and 0 < peak < len(lrs) - 1
        assert np.all(np.diff(lrs[: peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)


def test_frozen_epochs_change_the_head_only(colors, tiny_weights):
    config = tiny_config(tiny_weights, **{"schedule.epochs": 1, "schedule.freeze_epochs": 1})
    data = read_training_set(colors, config)
    network = build_network(config, 3)
    head_names = {name for name, _ in network.module.get_classifier().named_parameters()}
    before = {k: v.clone() for k, v in network.module.state_dict().items()}
    Trainer(network.module, *batches_for_training(data, network, config, Context()), config, lr=1e-2).fit()
    after = network.module.state_dict()
    head_keys = {k for k in after if k.split(".", 1)[-1] in head_names and k.startswith("classifier")}
    assert head_keys and all(not torch.equal(before[k], after[k]) for k in head_keys)
    assert all(torch.equal(before[k], after[k]) for k in after if k not in head_keys)  # weights and BN statistics


def test_unfrozen_groups_give_the_backbone_a_lower_lr(tiny_weights):
    network = build_network(tiny_config(tiny_weights), 3).module
    backbone, head = parameter_groups(network, 1e-3, 0.1, frozen=False)
    assert backbone["lr"] == pytest.approx(1e-4) and head["lr"] == 1e-3
    assert len(backbone["params"]) == len(backbone_parameters(network)) and head["params"] == head_parameters(network)
    assert len(parameter_groups(network, 1e-3, 0.1, frozen=True)) == 1


def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, tiny_weights):
    network = build_network(tiny_config(tiny_weights), 3)
    images = torch.rand(4, 3, 32, 32)
    network.module.eval()
    expected = network.module(images)
    save_checkpoint(tmp_path / "c.pt", network.module, architecture=network.architecture, classes=["a", "b", "c"],
                    data_config=network.data_config, config={"seed": 0}, metrics={"epoch": 1})
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.classes == ["a", "b", "c"] and loaded.data_config["input_size"] == (3, 32, 32)
    torch.testing.assert_close(loaded.network(images), expected)


def test_train_writes_the_run_folder_and_evaluates_the_best_epoch(colors, tiny_weights, tmp_path, caplog):
    options = {"regularization.ema_decay": 0.9, "tensorboard": True}
    result = train(colors, tiny_config(tiny_weights, tmp_path / "run", **options))
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


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(colors, tiny_weights, tmp_path):
    options = {"regularization.mixup": 0.4, "regularization.cutmix": 0.4, "data.balance": True,
               "augment.rotation": 10.0, "augment.color_jitter": 0.3}
    runs = [train(colors, tiny_config(tiny_weights, tmp_path / name, seed=seed, **options)).run_dir
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    first, second, other = ((run / "metrics.csv").read_text() for run in runs)
    assert first == second
    assert first != other


@pytest.mark.parametrize("optimizer", ["sgd", "radam", "lookahead_adamw"])
def test_cosine_warms_up_then_decays_and_plateau_cuts_the_lr(optimizer):
    layer = torch.nn.Linear(2, 2)
    config = OptimizerConfig(name=optimizer)
    cosine_optimizer = make_optimizer([{"params": layer.parameters(), "lr": 0.1}], config)
    cosine = Schedule(cosine_optimizer, ScheduleConfig(scheduler="cosine", warmup_fraction=0.2, min_lr=0.001), total_steps=20)
    lrs = []
    for _ in range(20):
        cosine_optimizer.step()
        cosine.after_step()
        lrs.append(cosine_optimizer.param_groups[0]["lr"])
    assert int(np.argmax(lrs)) in (3, 4) and lrs[-1] == pytest.approx(0.001, abs=1e-3) and lrs[0] < lrs[3]
    plateau_optimizer = make_optimizer([{"params": layer.parameters(), "lr": 0.1}], config)
    plateau = Schedule(plateau_optimizer, ScheduleConfig(scheduler="plateau", plateau_patience=1, plateau_factor=0.5), 10)
    for loss in (1.0, 0.9, 0.95, 0.97):
        plateau.after_epoch(loss)
    assert plateau_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_a_last_batch_of_one_image_is_skipped(colors, tiny_weights):
    config = tiny_config(tiny_weights, **{"data.batch_size": 17, "schedule.freeze_epochs": 0, "schedule.epochs": 1})
    data = read_training_set(colors, config)
    assert data.trained.sum() == 18
    network = build_network(config, 3)
    trainer = Trainer(network.module, *batches_for_training(data, network, config, Context()), config, lr=1e-2)
    trainer.fit()  # batch norm in training mode cannot take a batch of one
    assert trainer.step == 2 and trainer.metrics["train_loss"] > 0
