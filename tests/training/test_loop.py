"""The training loop on tiny data: phases, schedules, frozen layers, batch-norm corner cases."""

import numpy as np
import pytest
import torch

from labelfix.devices import reduced_precision
from labelfix.training.data import batches_for_training, read_training_set
from labelfix.training.distributed import Context
from labelfix.training.loop import Trainer, autocast_dtype, backbone_parameters, head_parameters, parameter_groups
from labelfix.training.network import build_network


def test_trainer_records_a_one_cycle_per_phase_and_steps_with_accumulation(colors, tiny_config):
    config = tiny_config(**{"schedule.epochs": 2, "schedule.accumulate_steps": 2, "data.batch_size": 4})
    data = read_training_set(colors, config)
    network = build_network(config.model, 3, config.seed)
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


def test_frozen_epochs_change_the_head_only(colors, tiny_config):
    config = tiny_config(**{"schedule.epochs": 1, "schedule.freeze_epochs": 1})
    data = read_training_set(colors, config)
    network = build_network(config.model, 3, config.seed)
    head_names = {name for name, _ in network.module.get_classifier().named_parameters()}
    before = {k: v.clone() for k, v in network.module.state_dict().items()}
    Trainer(network.module, *batches_for_training(data, network, config, Context()), config, lr=1e-2).fit()
    after = network.module.state_dict()
    head_keys = {k for k in after if k.split(".", 1)[-1] in head_names and k.startswith("classifier")}
    assert head_keys and all(not torch.equal(before[k], after[k]) for k in head_keys)
    assert all(torch.equal(before[k], after[k]) for k in after if k not in head_keys)  # weights and BN statistics


def test_unfrozen_groups_give_the_backbone_a_lower_lr(tiny_config):
    network = build_network(tiny_config().model, 3, 0).module
    backbone, head = parameter_groups(network, 1e-3, 0.1, frozen=False)
    assert backbone["lr"] == pytest.approx(1e-4) and head["lr"] == 1e-3
    assert len(backbone["params"]) == len(backbone_parameters(network)) and head["params"] == head_parameters(network)
    assert len(parameter_groups(network, 1e-3, 0.1, frozen=True)) == 1


def test_a_last_batch_of_one_image_is_skipped(colors, tiny_config):
    config = tiny_config(**{"data.batch_size": 17, "schedule.freeze_epochs": 0, "schedule.epochs": 1})
    data = read_training_set(colors, config)
    assert data.trained.sum() == 18
    network = build_network(config.model, 3, config.seed)
    trainer = Trainer(network.module, *batches_for_training(data, network, config, Context()), config, lr=1e-2)
    trainer.fit()  # batch norm in training mode cannot take a batch of one
    assert trainer.step == 2 and trainer.metrics["train_loss"] > 0


def test_the_batch_size_follows_the_device_unless_configured():
    import torch

    from labelfix.config import TrainConfig
    from labelfix.training.data import with_device_batch_size

    config = TrainConfig()
    assert config.data.batch_size is None
    assert with_device_batch_size(config, torch.device("cpu")).data.batch_size == 32
    assert with_device_batch_size(config, torch.device("cuda")).data.batch_size == 128
    assert config.data.batch_size is None  # the given config is left as it was
    chosen = config.model_copy(update={"data": config.data.model_copy(update={"batch_size": 8})})
    assert with_device_batch_size(chosen, torch.device("cuda")).data.batch_size == 8


def test_mixed_precision_on_a_cpu_is_bf16_where_it_is_native_or_asked_for():
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) == reduced_precision(cpu)  # bf16 with AMX / AVX-512 BF16, else fp32
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    assert autocast_dtype("fp16", cpu) is None and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("fp32", torch.device("cuda")) is None and autocast_dtype("fp16", torch.device("cuda")) == torch.float16
