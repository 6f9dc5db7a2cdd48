"""Out-of-fold probabilities from the backbone's last stages, fine-tuned per fold on cached activations.

Each image's activations at the backbone's split point (`Backbone.split_module`, the end of the stages at 1/16
resolution) are kept from the pass that embeds it, its mirror image's come from a pass that stops there, and both
are cached with the embeddings. Each fold then trains only what comes after the split: the last stages, the head
convolution and a new linear classifier, with the batch-norm statistics frozen, on a random view (plain or
mirrored) of each image; the held-out fold is predicted as the average over the views. The expensive part of the
network never runs again, so the CPU can afford it.

Two things make each training step 1.6x cheaper and were measured to rank as well: the frozen batch norms are folded
into the convolutions before them (the same function, one memory-bound pass fewer each way), and the depthwise
convolutions keep their pretrained weights (their weight gradients are the slowest part of a CPU step). Where the
device computes bf16 natively (CPUs with AMX or AVX-512 BF16, CUDA GPUs that support it) and the scan may use reduced
precision, the folds train under bf16 autocast (`training_dtype`), but for strided depthwise convolutions, whose
bf16 gradient is oneDNN's slowest step on the CPU (`strided_depthwise_in_fp32`); the held-out images are predicted in
fp32.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from timm.layers import BatchNormAct2d
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from labelfix.backbones import Backbone
from labelfix.crossval.probabilities import FLOOR, normalized
from labelfix.devices import reused_heap
from labelfix.errors import ModelError
from labelfix.progress import NoProgress, Progress
from labelfix.training.activations import relu6_from_output
from labelfix.training.loop import SmoothedBinaryCrossEntropy, autocast_dtype

log = logging.getLogger(__name__)
RUN_SEED_STEP = 7919  # run r of a fold starts from seed + fold + r × this: far from every other fold's seed


def last_stages_out_of_fold_probabilities(
    activations: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    n_classes: int,
    backbone: Backbone,
    *,
    epochs: int = 3,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.05,
    batch_size: int = 128,
    label_smoothing: float = 0.1,
    peak_weight: float = 0.0,
    fold_norms: bool = True,
    runs: int = 1,
    seed: int = 0,
    device: torch.device | None = None,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """Probabilities (N, K) for each image from the last stages fine-tuned on the other folds; rows sum to 1. Label
    sets (`labels` (N, K) 0/1) train with binary cross-entropy and get each class's sigmoid; with `peak_weight`,
    from `PeakAndMeanLogits`. `fold_norms`: see `top_network`. With `runs` above 1, each fold trains that many
    networks (each from its own seed: the new classifier's weights, the order of the samples and their views) and
    the held-out fold gets their average: less of one run's chance in the ranking.

    `activations` (N, views, C, h, w) float16 are the backbone's outputs at its split point for each view.
    """
    multilabel = labels.ndim == 2
    probabilities = np.zeros((len(labels), n_classes))
    fold_ids = np.unique(folds)
    device = device or torch.device("cpu")
    dtype = training_dtype(device, backbone.reduced_precision)
    stored = stored_activations(activations, device)
    with reused_heap(), progress.task("fine-tune last stages", len(fold_ids) * runs * epochs) as advance:
        for fold in fold_ids:
            held_out, training = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
            for run in range(runs):
                log.info("fold %d: fine-tuning the last stages on %d images%s", fold, len(training),
                         f" (run {run + 1} of {runs})" if runs > 1 else "")
                run_seed = seed + int(fold) + RUN_SEED_STEP * run
                network = top_network(backbone, n_classes, seed=run_seed, fold_norms=fold_norms,
                                      peak_weight=peak_weight if multilabel else 0)
                if dtype is not None:
                    strided_depthwise_in_fp32(network)
                network = network.to(device, memory_format=torch.channels_last)  # ~10% faster
                generator = torch.Generator().manual_seed(run_seed)
                fit_top(network, stored, labels, generator, rows=training, epochs=epochs,
                        learning_rate=learning_rate, weight_decay=weight_decay, batch_size=batch_size,
                        label_smoothing=label_smoothing, dtype=dtype, advance=advance)
                held_out_activations = stored[torch.as_tensor(held_out, device=stored.device)]
                probabilities[held_out] += predict_top(network, held_out_activations, batch_size=2 * batch_size,
                                                       multilabel=multilabel) / runs
    return np.clip(probabilities, FLOOR, 1 - FLOOR) if multilabel else normalized(probabilities)


def training_dtype(device: torch.device, reduced_precision: bool = True) -> torch.dtype | None:
    """bf16 where `device` computes it natively (`training.loop.autocast_dtype`) and `reduced_precision` allows it;
    None (fp32) elsewhere, also where the device's reduced precision is fp16, which would need gradient scaling.
    On a CPU with AMX a step of lite0's last stages takes 0.6x the time in bf16."""
    dtype = autocast_dtype("auto", device) if reduced_precision else None
    return dtype if dtype == torch.bfloat16 else None


def top_network(backbone: Backbone, n_classes: int, *, seed: int, fold_norms: bool = True,
                peak_weight: float = 0.0) -> nn.Module:
    """A copy of the backbone that takes activations at its split point (the modules before it are identities)
    with a new classifier of `n_classes` outputs, in eval mode (batch-norm statistics frozen), its batch norms folded
    into the convolutions before them (`fold_norms`, where that leaves the outputs unchanged), its depthwise
    filters frozen and its in-place ReLU6 activations taking their gradient from their output (`relu6_from_output`);
    with `peak_weight`, inside `PeakAndMeanLogits` (where the model pools and then classifies; otherwise as it is,
    with a warning).

    Raises ModelError for an architecture whose forward pass does not simply chain its modules (most ViTs).
    """
    network = copy.deepcopy(backbone.model).cpu().float().eval()
    probe = torch.rand(2, *backbone.data_config["input_size"], generator=torch.Generator().manual_seed(0))
    split, expected = _split_output_and_logits(network, backbone.split_module, probe)
    for name in _modules_before(network, backbone.split_module, probe):
        parent, _, child = name.rpartition(".")
        setattr(network.get_submodule(parent), child, nn.Identity())
    if not _reproduces(network, split, expected):
        raise ModelError(f"{backbone.name}: its layers after {backbone.split_module} cannot be run on their own; "
                         "use crossval.method embedding or finetune for this model")
    if fold_norms:
        folded = fold_batch_norms(copy.deepcopy(network))
        if _reproduces(folded, split, expected):
            network = folded
        else:
            log.info("%s: its batch norms are not folded into the convolutions (the outputs would change)",
                     backbone.name)
    freeze_depthwise(network)
    relu6_from_output(network)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network.reset_classifier(n_classes)
    if peak_weight:
        with torch.inference_mode():
            plain = network(split)
        if _reproduces(PeakAndMeanLogits(network, 0.0), split, plain):
            return PeakAndMeanLogits(network, peak_weight).eval()
        log.warning("%s: its head does more than pool and classify; the classes' peak scores are not used",
                    backbone.name)
    return network.eval()


def fold_batch_norms(network: nn.Module) -> nn.Module:
    """`network` (in eval mode) with each batch norm that directly follows a convolution in its parent folded into
    it: the convolution gets the norm's scale and shift, and the norm is replaced by what it did after normalising
    (timm's `BatchNormAct2d`: its dropout and activation). Norms of other kinds are left as they are; the caller
    checks that the outputs are unchanged."""
    for parent in list(network.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:]):
            if not (isinstance(conv, nn.Conv2d) and type(norm) in _FOLDABLE_NORMS and norm.track_running_stats):
                continue
            setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
            setattr(parent, norm_name, _FOLDABLE_NORMS[type(norm)](norm))
    return network


def freeze_depthwise(network: nn.Module) -> None:
    """Keep the pretrained weights of the depthwise convolutions (one filter per channel): computing their gradients
    is the slowest part of a training step on the CPU, and fine-tuning them did not rank better (README,
    "Measured")."""
    for module in network.modules():
        if is_depthwise(module):
            module.weight.requires_grad_(False)


def strided_depthwise_in_fp32(network: nn.Module) -> None:
    """Run each strided depthwise convolution in fp32 under autocast: on a CPU with AMX, the gradient of lite0's
    stride-2 5x5 depthwise convolution (672 channels) took 148 ms of a 470-ms bf16 training step (17 ms in fp32)."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            if is_depthwise(child) and max(child.stride) > 1:
                setattr(parent, name, InFloat32(child))


def is_depthwise(module: nn.Module) -> bool:
    """A convolution with one filter per input channel."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


class InFloat32(nn.Module):
    """A module run in fp32 inside an autocast region."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(inputs.device.type, enabled=False):
            return self.module(inputs.float())


_FOLDABLE_NORMS = {nn.BatchNorm2d: lambda norm: nn.Identity(),
                   BatchNormAct2d: lambda norm: nn.Sequential(norm.drop, norm.act)}


class PeakAndMeanLogits(nn.Module):
    """For label sets: the network's classifier applied at every position of its final feature map; a class's logit
    is its mean score there plus `peak_weight` × its highest (class-specific residual attention with an infinite
    temperature, Zhu & Wu, ICCV 2021), so an object that fills one corner of the image still counts fully. With
    `peak_weight` 0 it is the network's own global-average-pooled logit."""

    def __init__(self, network: nn.Module, peak_weight: float) -> None:
        super().__init__()
        self.network, self.peak_weight = network, peak_weight

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        features = self.network.forward_features(inputs)  # (B, C, h, w)
        classifier = self.network.get_classifier()
        scores = torch.einsum("bchw,kc->bkhw", features, classifier.weight)  # (B, K, h, w)
        return scores.mean(dim=(2, 3)) + self.peak_weight * scores.amax(dim=(2, 3)) + classifier.bias


def stored_activations(activations: np.ndarray, device: torch.device) -> torch.Tensor:
    """The cached activations as a tensor, moved once to a CUDA `device` when they fit in a quarter of its free
    memory (10,000 CIFAR images' two views at 160 px: 320 MB): each training step then gathers its batch there,
    instead of on the host and copying it over. Elsewhere the array itself, not copied."""
    stored = torch.as_tensor(activations)
    if device.type == "cuda" and stored.nbytes < torch.cuda.mem_get_info(device)[0] / 4:
        return stored.to(device)
    return stored


def fit_top(network: nn.Module, activations: np.ndarray | torch.Tensor, labels: np.ndarray,
            generator: torch.Generator, *,
            epochs: int, learning_rate: float, weight_decay: float, batch_size: int, label_smoothing: float,
            rows: np.ndarray | None = None, dtype: torch.dtype | None = None, advance=lambda steps=1: None) -> None:
    """AdamW with a one-cycle schedule and label smoothing (label sets: binary cross-entropy) on the images at `rows`
    (all by default; the activations are not copied, and a batch is gathered where they are); each sample's view is
    drawn at random every time; under autocast to `dtype` when given. `advance(1)` after each epoch."""
    device = next(network.parameters()).device
    stored = torch.as_tensor(activations)
    rows = np.arange(len(labels)) if rows is None else rows
    stored_rows = torch.as_tensor(rows, device=stored.device)
    multilabel = labels.ndim == 2
    targets = torch.as_tensor(labels[rows].astype(np.float32) if multilabel else labels[rows], device=device)
    batch_size = min(batch_size, max(8, len(rows) // 8))  # a small fold still gets about 8 steps an epoch
    total_steps = epochs * -(-len(rows) // batch_size)
    optimizer = create_optimizer_v2(network, opt="adamw", lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=max(total_steps, 4),
                                                   pct_start=max(0.25, 2 / max(total_steps, 4)))
    loss_function = (SmoothedBinaryCrossEntropy(label_smoothing) if multilabel
                     else LabelSmoothingCrossEntropy(smoothing=label_smoothing))
    for _ in range(epochs):
        # the epoch's order and views drawn at once (the same numbers as batch by batch) and moved once: a copy from
        # the host at each step would make it wait for the device
        order = torch.randperm(len(rows), generator=generator)
        views = torch.randint(0, stored.shape[1], (len(rows),), generator=generator)
        order_there, views_there, order_here = order.to(stored.device), views.to(stored.device), order.to(device)
        for start in range(0, len(rows), batch_size):
            part = slice(start, start + batch_size)
            picked = stored[stored_rows[order_there[part]], views_there[part]]
            inputs = picked.to(device, non_blocking=True).to(dtype or torch.float32)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = network(inputs.contiguous(memory_format=torch.channels_last))
            loss = loss_function(logits.float(), targets[order_here[part]])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        advance(1)


def predict_top(network: nn.Module, activations: np.ndarray | torch.Tensor, *, batch_size: int,
                multilabel: bool = False) -> np.ndarray:
    """Softmax probabilities (N, K) (label sets: sigmoids), averaged over the views of each image."""
    network.eval()
    device = next(network.parameters()).device
    stored = torch.as_tensor(activations)
    rows = []
    with torch.inference_mode():
        for start in range(0, len(stored), batch_size):
            batch = stored[start : start + batch_size].to(device, non_blocking=True).float()
            views = batch.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # (B × views, C, h, w)
            logits = network(views)
            probabilities = (logits.sigmoid() if multilabel else logits.softmax(dim=1)).unflatten(0, batch.shape[:2]).mean(dim=1)
            rows.append(probabilities.double().cpu().numpy())
    return np.concatenate(rows)


def _reproduces(network: nn.Module, split: torch.Tensor, expected: torch.Tensor) -> bool:
    """Whether `network` computes the logits `expected` from the split activations (a model whose forward pass does
    more than chain its modules fails here, or raises)."""
    try:
        with torch.inference_mode():
            return torch.allclose(network(split), expected, rtol=1e-3, atol=1e-3)
    except (RuntimeError, ValueError, TypeError, AssertionError, AttributeError):
        return False


def _split_output_and_logits(network: nn.Module, split_module: str, probe: torch.Tensor):
    """The split module's output and the whole network's logits for `probe`."""
    captured = {}
    handle = network.get_submodule(split_module).register_forward_hook(lambda _, __, out: captured.update(out=out))
    with torch.inference_mode():
        logits = network(probe)
    handle.remove()
    return captured["out"], logits


def _modules_before(network: nn.Module, split_module: str, probe: torch.Tensor) -> list[str]:
    """The largest modules that run completely before the split module's output exists (itself included)."""
    events: list[tuple[str, str]] = []
    names = {module: name for name, module in network.named_modules() if name}
    handles = []
    for module, name in names.items():
        handles.append(module.register_forward_pre_hook(lambda *_, name=name: events.append(("start", name))))
        handles.append(module.register_forward_hook(lambda *_, name=name: events.append(("end", name))))
    with torch.inference_mode():
        network(probe)
    for handle in handles:
        handle.remove()
    split_end = events.index(("end", split_module))
    finished = {name for kind, name in events[: split_end + 1] if kind == "end"}
    return [name for name in finished if name.rpartition(".")[0] not in finished]
