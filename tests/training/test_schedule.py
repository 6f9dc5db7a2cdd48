import numpy as np
import pytest
import torch

from labelfix.config import OptimizerConfig, ScheduleConfig
from labelfix.training.schedule import Schedule, make_optimizer


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
