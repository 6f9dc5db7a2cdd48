"""Learning-rate finder (Smith / fastai): raise the lr exponentially over a few batches, smooth the loss,
suggest the lr of steepest descent. The network's weights are restored afterwards."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from labelfix import plots
from labelfix.config import OptimizerConfig, TrainConfig
from labelfix.devices import resolve_device, reused_heap
from labelfix.seeding import seed_everything
from labelfix.training.data import batches_for_training, on_device, read_training_set, with_device_batch_size
from labelfix.training.distributed import Context
from labelfix.training.loop import loss_functions, parameter_groups, set_frozen, set_train_mode
from labelfix.training.network import Network, build_network
from labelfix.training.schedule import make_optimizer


@dataclass
class LrSweep:
    lrs: np.ndarray  # (S,) learning rates tried
    losses: np.ndarray  # (S,) smoothed training loss after each
    suggestion: float


def exponential_lrs(start: float, end: float, steps: int) -> np.ndarray:
    return start * (end / start) ** (np.arange(steps) / max(steps - 1, 1))


def smoothed(losses: list[float], beta: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (S,)."""
    average, out = 0.0, []
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**step))
    return np.array(out)


def steepest_descent(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The lr where the smoothed loss falls fastest against log(lr), before its minimum."""
    end = int(np.argmin(losses)) + 1
    if end < 3:
        return float(lrs[0])
    slopes = np.gradient(losses[:end], np.log(lrs[:end]))
    return float(lrs[int(np.argmin(slopes))])


def find_lr(network: nn.Module, batches: DataLoader, loss_function: nn.Module, optimizer_config: OptimizerConfig, *,
            device: torch.device, frozen: bool = True, start_lr: float = 1e-7, end_lr: float = 1.0, steps: int = 100,
            stop_factor: float = 4.0) -> LrSweep:
    """Sweep `steps` learning rates (stops early once the loss diverges); the weights are left as they were."""
    saved = copy.deepcopy(network.state_dict())
    set_frozen(network, frozen)
    network.to(device)
    set_train_mode(network, frozen)
    optimizer = make_optimizer(parameter_groups(network, start_lr, 1.0, frozen), optimizer_config)
    lrs, losses = exponential_lrs(start_lr, end_lr, steps), []
    stream = (batch for batch in itertools.cycle(batches) if len(batch[1]))
    try:
        with reused_heap():  # the same activations freed and allocated at every step (see devices)
            for lr, (images, targets) in zip(lrs, stream):
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss = loss_function(network(on_device(images, batches, device)).float(), targets.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                average = smoothed(losses)
                if not math.isfinite(losses[-1]) or average[-1] > stop_factor * average.min():
                    break
    finally:
        network.load_state_dict(saved)
        set_frozen(network, False)
    tried, curve = lrs[: len(losses)], smoothed(losses)
    return LrSweep(lrs=tried, losses=curve, suggestion=steepest_descent(tried, curve))


def sweep_learning_rate(network: Network, train_batches: DataLoader, config: TrainConfig, context: Context,
                        steps: int = 100, *, multilabel: bool = False) -> LrSweep:
    """The lr finder on the first phase's setup (frozen backbone when there are frozen epochs)."""
    loss_function, _ = loss_functions(config, network.module.num_classes, multilabel)
    steps = min(steps, max(len(train_batches) * 3, 20))
    return find_lr(network.module, train_batches, loss_function, config.optimizer, device=context.device,
                   frozen=config.schedule.freeze_epochs > 0, steps=steps)


def lr_find(path: str | Path, config: TrainConfig, plot_path: Path, *, steps: int = 100) -> LrSweep:
    """Run the lr finder on the dataset's training images and plot the sweep to `plot_path`."""
    context = Context(device=resolve_device(config.device))
    config = with_device_batch_size(config, context.device)
    seed_everything(config.seed)
    data = read_training_set(path, config)
    network = build_network(config.model, len(data.manifest.classes), config.seed)
    train_batches, _ = batches_for_training(data, network, config, context)
    sweep = sweep_learning_rate(network, train_batches, config, context, steps=steps, multilabel=data.multilabel)
    plots.save_png(plots.lr_sweep(sweep.lrs, sweep.losses, sweep.suggestion), plot_path)
    return sweep
