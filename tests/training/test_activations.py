"""ReLU6 that takes its gradient from its output: the same numbers as PyTorch's, without a copy of its input."""

from __future__ import annotations

import copy

import torch
from torch import nn

from labelfix.backbones import load_backbone
from labelfix.config import TrainModelConfig
from labelfix.crossval.last_stages import top_network
from labelfix.training.activations import ReLU6FromOutput, relu6_from_output
from labelfix.training.network import build_network


def _values_and_gradient(activation: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The activation of inputs below, at, between and above its bounds (a non-leaf tensor, as in a network), and
    the gradient that reaches them."""
    leaf = torch.tensor([-2.0, -0.0, 0.0, 1e-7, 3.0, 6.0 - 1e-6, 6.0, 7.5], requires_grad=True)
    outputs = activation(leaf * 1.0)
    (outputs * torch.arange(1.0, 9.0)).sum().backward()
    return outputs.detach(), leaf.grad


def test_values_and_gradients_are_pytorchs_to_the_bit():
    expected_values, expected_gradient = _values_and_gradient(nn.ReLU6(inplace=True))
    values, gradient = _values_and_gradient(ReLU6FromOutput())
    assert torch.equal(values, expected_values) and torch.equal(gradient, expected_gradient)
    assert gradient.tolist() == [0, 0, 0, 4, 5, 6, 0, 0]


def test_without_gradients_it_is_relu6():
    inputs = torch.linspace(-3, 9, 25)
    with torch.inference_mode():
        assert torch.equal(ReLU6FromOutput()(inputs.clone()), nn.functional.relu6(inputs))


def test_only_in_place_relu6_is_replaced_and_the_network_computes_the_same():
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6(inplace=True), nn.Conv2d(4, 4, 1), nn.ReLU6(),
                            nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    inputs = torch.randn(5, 3, 8, 8)
    swapped = relu6_from_output(copy.deepcopy(network))
    assert isinstance(swapped[1], ReLU6FromOutput) and type(swapped[3]) is nn.ReLU6
    assert swapped.state_dict().keys() == network.state_dict().keys()
    for model in (network, swapped):
        model(inputs).square().sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(network.parameters(), swapped.parameters()))


def test_the_networks_labelfix_trains_have_it():
    whole = build_network(TrainModelConfig(name="lite0"), 3, seed=0).module
    last_stages = top_network(load_backbone("lite0"), 3, seed=0)
    for module, expected in ((whole, 33), (last_stages, 11)):  # last stages: blocks.5, blocks.6, the head
        assert not any(type(m) is nn.ReLU6 for m in module.modules())
        assert sum(isinstance(m, ReLU6FromOutput) for m in module.modules()) == expected
