"""The network that is fine-tuned: a pretrained backbone with a new, seeded head for the dataset's classes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from labelfix.backbones import load_backbone, sized_data_config
from labelfix.config import TrainModelConfig
from labelfix.training.activations import relu6_from_output


@dataclass
class Network:
    """A timm classifier with a new head for the dataset's classes, and its preprocessing."""

    module: nn.Module
    architecture: str
    data_config: dict


def build_network(model: TrainModelConfig, n_classes: int, seed: int) -> Network:
    """The backbone (embedded lite0, a timm name or local weights) with a new head of `n_classes` outputs,
    initialised from `seed` (torch's global random state is left as it was), its in-place ReLU6 activations
    taking their gradient from their output (`relu6_from_output`)."""
    backbone = load_backbone(model.name, model.weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone.model.reset_classifier(n_classes)
    return Network(module=relu6_from_output(backbone.model), architecture=backbone.architecture,
                   data_config=sized_data_config(backbone.data_config, model.image_size))
