"""Learning-rate finder (Smith / fastai): raise the lr exponentially over a few batches, smooth the loss,
suggest the lr of steepest descent. The network's weights are restored afterwards."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from labelfix.config import OptimizerConfig  # noqa: E402
from labelfix.training.loop import parameter_groups, set_frozen, set_train_mode  # noqa: E402
from labelfix.training.schedule import make_optimizer  # noqa: E402


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
        for lr, (images, targets) in zip(lrs, stream):
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_function(network(images.to(device)).float(), targets.to(device))
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


def plot_lr_sweep(sweep: LrSweep, path: Path) -> None:
    """Loss against learning rate (log scale) with the suggestion marked, as a PNG."""
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(sweep.lrs, sweep.losses)
    axes.set_xscale("log")
    nearest = int(np.argmin(np.abs(np.log(sweep.lrs) - math.log(sweep.suggestion))))
    axes.plot([sweep.suggestion], [sweep.losses[nearest]], "ro", label=f"suggested lr {sweep.suggestion:.2e}")
    axes.set(xlabel="learning rate", ylabel="smoothed training loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
