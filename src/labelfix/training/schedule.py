"""Learning-rate schedules behind one small interface: step after each optimizer step, or after each epoch."""

from __future__ import annotations

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

from labelfix.config import OptimizerConfig, ScheduleConfig


def make_optimizer(parameter_groups: list[dict], config: OptimizerConfig) -> torch.optim.Optimizer:
    """timm's optimizer factory over parameter groups [{"params", "lr"}] (adamw, sgd, radam, lookahead_adamw, ...)."""
    return create_optimizer_v2(parameter_groups, opt=config.name, lr=parameter_groups[-1]["lr"],
                               weight_decay=config.weight_decay, momentum=config.momentum)


class Schedule:
    """Sets the optimizer's learning rates over `total_steps` optimizer steps of one training phase."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int) -> None:
        peaks = [group["lr"] for group in optimizer.param_groups]
        self.kind = config.scheduler
        warmup = int(config.warmup_fraction * total_steps)
        if self.kind == "one_cycle":
            momentum = any(key in optimizer.defaults for key in ("betas", "momentum"))
            final_div = 1e4 if config.min_lr is None else max(peaks[-1] / 25 / max(config.min_lr, 1e-12), 1.0)
            total = max(total_steps, 4)  # torch's one-cycle needs at least two steps up and two down
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=peaks, total_steps=total, pct_start=min(max(warmup, 2), total - 2) / total,
                cycle_momentum=momentum, final_div_factor=final_div,
            )
        elif self.kind == "cosine":
            self.scheduler = CosineLRScheduler(optimizer, t_initial=max(total_steps, 1), lr_min=config.min_lr or 0.0,
                                               warmup_t=warmup, warmup_lr_init=peaks[-1] / 25, t_in_epochs=False)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience,
                min_lr=config.min_lr or 0.0,
            )
        self.steps = 0

    def after_step(self) -> None:
        self.steps += 1
        if self.kind == "one_cycle" and self.steps < self.scheduler.total_steps:
            self.scheduler.step()
        elif self.kind == "cosine":
            self.scheduler.step_update(self.steps)

    def after_epoch(self, val_loss: float | None) -> None:
        if self.kind == "plateau" and val_loss is not None:
            self.scheduler.step(val_loss)
