"""The training loop. It stays short: metrics files, progress, checkpoints and EMA hook into named events.

Training runs in phases, each with its own schedule (fastai's `fine_tune`): first the new head alone
with the backbone frozen (its batch-norm statistics too), then everything, the backbone at a lower
learning rate (discriminative learning rates).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch import nn
from torch.utils.data import DataLoader

from labelfix.config import TrainConfig
from labelfix.devices import network_to, reduced_precision, reused_heap
from labelfix.seeding import numpy_global_state
from labelfix.training import distributed
from labelfix.training.data import on_device
from labelfix.training.distributed import Context
from labelfix.training.schedule import Schedule, make_optimizer


class Callback:
    """Does something at some of the trainer's events; every method is optional."""

    def before_fit(self, trainer: Trainer) -> None: ...
    def before_epoch(self, trainer: Trainer) -> None: ...
    def after_step(self, trainer: Trainer) -> None: ...
    def after_batch(self, trainer: Trainer) -> None: ...
    def after_epoch(self, trainer: Trainer) -> None: ...
    def after_fit(self, trainer: Trainer) -> None: ...


@dataclass(frozen=True)
class Phase:
    epochs: int
    frozen: bool


def phases(epochs: int, freeze_epochs: int) -> list[Phase]:
    """The frozen phase (if any) and the unfrozen one; `epochs` counts both."""
    frozen = min(freeze_epochs, epochs)
    return [phase for phase in (Phase(frozen, True), Phase(epochs - frozen, False)) if phase.epochs > 0]


def head_parameters(network: nn.Module) -> list[nn.Parameter]:
    return list(network.get_classifier().parameters())


def backbone_parameters(network: nn.Module) -> list[nn.Parameter]:
    head = {id(p) for p in head_parameters(network)}
    return [p for p in network.parameters() if id(p) not in head]


def set_frozen(network: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) every parameter but the classifier's."""
    for parameter in backbone_parameters(network):
        parameter.requires_grad_(not frozen)


def set_train_mode(network: nn.Module, frozen: bool) -> None:
    """Training mode; a frozen backbone stays in eval mode so its batch-norm statistics do not move."""
    if frozen:
        network.eval()
        network.get_classifier().train()
    else:
        network.train()


def parameter_groups(network: nn.Module, lr: float, backbone_lr_factor: float, frozen: bool) -> list[dict]:
    """Optimizer groups: the head at `lr`, the backbone (when trained) at `lr × backbone_lr_factor`."""
    head = {"params": head_parameters(network), "lr": lr}
    return [head] if frozen else [{"params": backbone_parameters(network), "lr": lr * backbone_lr_factor}, head]


def loss_functions(config: TrainConfig, n_classes: int, multilabel: bool = False) -> tuple[nn.Module, Mixup | None]:
    """Training loss and the MixUp/CutMix mixer (which then smooths the labels itself); label sets train with
    binary cross-entropy on the logits."""
    regularization = config.regularization
    if multilabel:
        return SmoothedBinaryCrossEntropy(regularization.label_smoothing), None
    if regularization.mixup > 0 or regularization.cutmix > 0:
        mixer = Mixup(mixup_alpha=regularization.mixup, cutmix_alpha=regularization.cutmix,
                      label_smoothing=regularization.label_smoothing, num_classes=n_classes)
        return SoftTargetCrossEntropy(), mixer
    if regularization.label_smoothing > 0:
        return LabelSmoothingCrossEntropy(smoothing=regularization.label_smoothing), None
    return nn.CrossEntropyLoss(), None


class SmoothedBinaryCrossEntropy(nn.Module):
    """Binary cross-entropy on logits against 0/1 label vectors moved `smoothing` of the way towards 0.5 (timm's
    BinaryCrossEntropy does this for dense targets only in recent versions)."""

    def __init__(self, smoothing: float = 0.0) -> None:
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype) * (1 - self.smoothing) + 0.5 * self.smoothing
        return nn.functional.binary_cross_entropy_with_logits(logits, targets)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Mixed precision: on CUDA bf16 where supported (auto), else fp16; on a CPU bf16 where it computes bf16
    natively (auto: AMX or AVX-512 BF16, `devices.reduced_precision`) or when asked for (fp16 is not offered there).
    None means fp32."""
    if precision == "fp32" or device.type not in ("cuda", "cpu"):
        return None
    if device.type == "cpu":
        return {"auto": reduced_precision(device), "bf16": torch.bfloat16}.get(precision)
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


@dataclass
class Trainer:
    """Fits `network` (a timm classifier) on `train_batches`; validates on `val_batches` after each epoch."""

    network: nn.Module
    train_batches: DataLoader
    val_batches: DataLoader | None
    config: TrainConfig
    lr: float
    context: Context = field(default_factory=Context)
    multilabel: bool = False  # targets are 0/1 vectors: binary cross-entropy, mean average precision
    callbacks: list[Callback] = field(default_factory=list)
    # state, read by callbacks
    epoch: int = 0
    step: int = 0
    phase: Phase | None = None
    loss: float = math.nan
    metrics: dict = field(default_factory=dict)
    lr_history: list[float] = field(default_factory=list)  # head lr used by each optimizer step
    eval_network: nn.Module | None = None  # what validation uses; an EMA callback swaps in its average

    def fit(self) -> None:
        n_classes = self.network.num_classes
        self.loss_function, self.mixer = loss_functions(self.config, n_classes, self.multilabel)
        self.mixing_random = np.random.RandomState(self.config.seed + self.context.rank)
        self.autocast = autocast_dtype(self.config.precision, self.context.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast == torch.float16)
        network_to(self.network, self.context.device)
        self.eval_network = self.network
        with reused_heap():  # the same activations freed and allocated at every step (see devices)
            self._event("before_fit")
            for phase in phases(self.config.schedule.epochs, self.config.schedule.freeze_epochs):
                self._begin_phase(phase)
                for _ in range(phase.epochs):
                    started = time.perf_counter()
                    self._event("before_epoch")
                    train_loss = self._train_one_epoch()
                    self.metrics = {"epoch": self.epoch + 1, "phase": "frozen" if phase.frozen else "unfrozen",
                                    "train_loss": train_loss, **self.validate(), "lr": self.lr_history[-1]}
                    self.schedule.after_epoch(self.metrics.get("val_loss"))
                    self.metrics["seconds"] = time.perf_counter() - started
                    self._event("after_epoch")
                    self.epoch += 1
        self._event("after_fit")

    def _event(self, name: str) -> None:
        for callback in self.callbacks:
            getattr(callback, name)(self)

    def _begin_phase(self, phase: Phase) -> None:
        self.phase = phase
        set_frozen(self.network, phase.frozen)
        schedule = self.config.schedule
        groups = parameter_groups(self.network, self.lr, schedule.backbone_lr_factor, phase.frozen)
        self.optimizer = make_optimizer(groups, self.config.optimizer)
        steps_per_epoch = -(-len(self.train_batches) // schedule.accumulate_steps)
        self.schedule = Schedule(self.optimizer, schedule, steps_per_epoch * phase.epochs)
        self.model = distributed.wrap(self.network, self.context)

    def _precision(self):
        if self.autocast is None:
            return nullcontext()
        return torch.autocast(self.context.device.type, dtype=self.autocast)

    def _train_one_epoch(self) -> float:
        set_train_mode(self.network, self.phase.frozen)
        self.train_batches.sampler.set_epoch(self.epoch)
        accumulate = self.config.schedule.accumulate_steps
        total, count = torch.zeros((), dtype=torch.float64, device=self.context.device), 0  # on the device: no sync per step
        self.optimizer.zero_grad(set_to_none=True)
        batches = len(self.train_batches)
        for index, (images, targets) in enumerate(self.train_batches):
            if len(targets) >= 2:  # a last batch of one is skipped: batch norm (and MixUp) need two images
                loss = self._forward(images, targets)
                self.scaler.scale(loss / accumulate).backward()
                total, count = total + loss.detach().double() * len(targets), count + len(targets)
            if (index + 1) % accumulate == 0 or index + 1 == batches:
                self._optimizer_step()
            self._event("after_batch")
        total, count = distributed.sum_over_processes([total.item(), count], self.context)
        return total / max(count, 1)

    def _forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        images = on_device(images, self.train_batches, self.context.device)
        targets = targets.to(self.context.device, non_blocking=True)
        if self.mixer is not None:
            if len(targets) % 2:  # MixUp pairs images: an odd last batch loses one
                images, targets = images[:-1], targets[:-1]
            with numpy_global_state(self.mixing_random):  # timm's Mixup draws from numpy's global generator
                images, targets = self.mixer(images, targets)
        with self._precision():
            return self.loss_function(self.model(images).float(), targets)

    def _optimizer_step(self) -> None:
        self.lr_history.append(self.optimizer.param_groups[-1]["lr"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.after_step()
        self.step += 1
        self._event("after_step")

    def validate(self) -> dict:
        """val_loss (cross-entropy) and val_accuracy over all processes; empty without validation images. Label
        sets: val_loss is the binary cross-entropy per entry, val_accuracy the share of (image, class) entries
        right at 0.5, and val_map the mean average precision over classes (with several processes, the mean of
        each one's share)."""
        if self.val_batches is None:
            return {}
        distributed.share_buffers(self.eval_network, self.context)
        self.eval_network.eval()
        # summed on the device in float64 (each batch's float32 sum added as the host would add it), read once
        sums = torch.zeros(2, dtype=torch.float64, device=self.context.device)  # loss, correct
        count, scores, truths = 0.0, [], []
        with torch.inference_mode(), self._precision():
            for images, targets in self.val_batches:
                if not len(targets):
                    continue
                images, targets = on_device(images, self.val_batches, self.context.device), targets.to(self.context.device)
                logits = self.eval_network(images).float()
                if self.multilabel:
                    sums[0] += nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum").double()
                    sums[1] += ((logits > 0) == (targets > 0.5)).sum()
                    count += targets.numel()
                    scores.append(logits.sigmoid().cpu().numpy())
                    truths.append(targets.cpu().numpy())
                else:
                    sums[0] += nn.functional.cross_entropy(logits, targets, reduction="sum").double()
                    sums[1] += (logits.argmax(1) == targets).sum()
                    count += len(targets)
        loss, correct = sums.tolist()
        if not self.multilabel:
            loss, correct, count = distributed.sum_over_processes([loss, correct, count], self.context)
            return {"val_loss": loss / max(count, 1), "val_accuracy": correct / max(count, 1)}
        mean_ap = mean_average_precision(np.concatenate(truths), np.concatenate(scores)) if scores else 0.0
        loss, correct, count, mean_ap = distributed.sum_over_processes([loss, correct, count, mean_ap], self.context)
        return {"val_loss": loss / max(count, 1), "val_accuracy": correct / max(count, 1),
                "val_map": mean_ap / self.context.world_size}


def mean_average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """Mean over classes with at least one positive of sklearn's average precision."""
    from sklearn.metrics import average_precision_score

    present = truth.sum(axis=0) > 0
    if not present.any():
        return 0.0
    return float(np.mean([average_precision_score(truth[:, k], scores[:, k]) for k in np.flatnonzero(present)]))
