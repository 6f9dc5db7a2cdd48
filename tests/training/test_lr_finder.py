import numpy as np
import pytest
import torch

from labelfix.config import OptimizerConfig
from labelfix.training.lr_finder import exponential_lrs, find_lr, smoothed, steepest_descent


def test_learning_rates_rise_exponentially_from_start_to_end():
    lrs = exponential_lrs(1e-6, 1.0, 7)
    np.testing.assert_allclose(lrs, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_smoothing_is_bias_corrected():
    np.testing.assert_allclose(smoothed([2.0, 2.0, 2.0]), [2.0, 2.0, 2.0])
    assert smoothed([1.0, 3.0])[1] == pytest.approx((0.9 * 0.1 * 1 + 0.1 * 3) / (1 - 0.9**2))


def test_suggestion_is_where_the_loss_falls_fastest_before_its_minimum():
    lrs = exponential_lrs(1e-5, 1.0, 6)  # 1e-5 ... 1
    losses = np.array([2.0, 1.95, 1.5, 0.9, 0.8, 3.0])  # steepest between 1e-3 and 1e-2; blows up at 1
    assert steepest_descent(lrs, losses) in (lrs[2], lrs[3])
    assert steepest_descent(lrs, np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])) == lrs[0]  # never falls: the smallest


def test_the_sweep_leaves_the_weights_as_they_were():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    network.get_classifier = lambda: network[2]
    before = {k: v.clone() for k, v in network.state_dict().items()}
    batches = [(torch.randn(16, 4), torch.randint(0, 2, (16,))) for _ in range(3)]
    sweep = find_lr(network, batches, torch.nn.CrossEntropyLoss(), OptimizerConfig(), device=torch.device("cpu"),
                    frozen=False, steps=30)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert len(sweep.lrs) == len(sweep.losses) <= 30 and sweep.lrs.min() <= sweep.suggestion <= sweep.lrs.max()
