"""Fine-tuning speed: labelfix's training loop next to a bare timm loop and next to the network alone.

    python benchmarks/finetune_speed.py --subset 10000
    python benchmarks/finetune_speed.py --subset 2000 --device cpu

With `--network free` the network is a stand-in whose steps cost next to nothing (the means of a grid, two small
linear layers), so the same three measure what the loop costs besides the network, on a CPU as well:
labelfix's loop and the bare loop next to their loaders alone (decoding and augmenting in the workers, nothing
else), each loop's ceiling. The main process then computes on one thread (a pool's threads would wait for the
cores the workers hold at each of its tiny operations). Writes finetune_speed-<n>-<device>-free.json.

All three train the whole network the scan's `--method finetune` trains (its backbone, input size, batch size and
precision on this device), on the same CIFAR-10N images, in one run, after one training step has warmed the device
up (timed and reported apart). The loops run two epochs each and their second epoch is compared: on an H200 the
first epoch of whichever loop ran first was 4-8x slower (new batch shapes, e.g. the last partial batch, cost
seconds there the first time):
- labelfix: `Trainer` with the scan's fine-tuning recipe and loader (augmentation, label smoothing, one-cycle);
- bare timm: what a hand-written loop does: the same model, timm's training transform, DataLoader with the same
  workers, AdamW, cross-entropy, autocast where labelfix uses it, channels-last on CUDA;
- network alone: the bare loop's step on one batch that stays on the device (no decoding, no copies): the
  ceiling for both.
Writes benchmarks/results/finetune_speed-<n>-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
from labelfix.crossval.finetune import finetune_config  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import default_workers, images_to, network_to, resolve_device  # noqa: E402
from labelfix.images.resolution import auto_input_size, typical_short_side  # noqa: E402
from labelfix.images.transforms import train_transform  # noqa: E402
from labelfix.training.data import LabeledImages, collate, train_loader, training_images  # noqa: E402
from labelfix.training.distributed import Context  # noqa: E402
from labelfix.training.loop import Callback, Trainer, autocast_dtype  # noqa: E402
from labelfix.training.network import Network, build_network  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EpochSeconds(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def after_epoch(self, trainer: Trainer) -> None:
        self.seconds.append(trainer.metrics["seconds"])


class FreeClassifier(nn.Module):
    """A stand-in for the network whose training steps cost next to nothing: the mean colours of a 4×4 grid (of every
    fourth pixel), a small linear layer, a linear classifier (found by `get_classifier`, as in timm models)."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.stem = nn.Linear(48, 32)
        self.classifier = nn.Linear(32, n_classes)
        self.num_classes = n_classes

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        colours = nn.functional.adaptive_avg_pool2d(images[:, :, ::4, ::4], 4).flatten(1)
        return self.classifier(nn.functional.relu(self.stem(colours)))


def network_for(config, n_classes: int, free: bool) -> Network:
    """The network the scan fine-tunes, or (`free`) its preprocessing around a `FreeClassifier`."""
    network = build_network(config.model, n_classes, config.seed)
    return replace(network, module=FreeClassifier(n_classes), architecture="free") if free else network


def labelfix_epochs(paths, labels, n_classes: int, config, device: torch.device, free: bool = False) -> list[float]:
    """Seconds of each of two epochs of labelfix's Trainer (whole network, the scan's fine-tuning recipe)."""
    config = config.model_copy(update={"schedule": config.schedule.model_copy(update={"epochs": 2, "freeze_epochs": 0})})
    network = network_for(config, n_classes, free)
    context = Context(device=device)
    images = training_images(paths, labels, network.data_config, config.augment)
    batches = train_loader(images, batch_size=config.data.batch_size, workers=config.data.workers, seed=config.seed,
                           context=context)
    timer = EpochSeconds()
    Trainer(network.module, batches, None, config, lr=config.schedule.lr, context=context, callbacks=[timer]).fit()
    return timer.seconds


def _bare_model(config, n_classes: int, device: torch.device, free: bool = False):
    """(network, its module on `device` in training mode)."""
    network = network_for(config, n_classes, free)
    return network, network_to(network.module, device).train()


def _bare_step(model, optimizer, images, targets, dtype):
    with torch.autocast(images.device.type, dtype=dtype) if dtype else nullcontext():
        loss = torch.nn.functional.cross_entropy(model(images), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def bare_loader(paths, labels, network: Network, config, device: torch.device) -> DataLoader:
    """What a hand-written loop feeds its network: every file decoded whole, timm's training transform."""
    return DataLoader(LabeledImages(paths, labels, train_transform(network.data_config, config.augment)),
                      batch_size=config.data.batch_size, shuffle=True, num_workers=config.data.workers,
                      collate_fn=collate, pin_memory=device.type == "cuda")


def bare_epochs(paths, labels, n_classes: int, config, device: torch.device,
                free: bool = False) -> tuple[list[float], float]:
    """Seconds of each of two epochs of a bare timm loop, and images/s of its step on one batch kept on the device."""
    network, model = _bare_model(config, n_classes, device, free)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = autocast_dtype(config.precision, device)
    loader = bare_loader(paths, labels, network, config, device)
    epoch_seconds = []
    for _ in range(2):
        start = time.perf_counter()
        for images, targets in loader:
            images = images_to(images, device)
            _bare_step(model, optimizer, images, targets.to(device, non_blocking=True), dtype)
        _synchronize(device)
        epoch_seconds.append(time.perf_counter() - start)

    images, targets = next(iter(loader))
    images = images_to(images, device)
    targets = targets.to(device)
    for _ in range(3):  # warm-up
        _bare_step(model, optimizer, images, targets, dtype)
    _synchronize(device)
    steps = max(5, min(50, len(paths) // len(targets)))
    start = time.perf_counter()
    for _ in range(steps):
        _bare_step(model, optimizer, images, targets, dtype)
    _synchronize(device)
    return epoch_seconds, steps * len(targets) / (time.perf_counter() - start)


def training_warmup(config, n_classes: int, size: int, device: torch.device, free: bool = False) -> float:
    """Seconds of the process's first training step (CUDA loads its kernels then), before either loop is timed."""
    _, model = _bare_model(config, n_classes, device, free)
    images = images_to(torch.zeros(config.data.batch_size, 3, size, size), device)
    targets = torch.zeros(config.data.batch_size, dtype=torch.long, device=device)
    start = time.perf_counter()
    _bare_step(model, torch.optim.AdamW(model.parameters()), images, targets, autocast_dtype(config.precision, device))
    _synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--network", choices=("real", "free"), default="real",
                        help="free: a stand-in whose steps cost next to nothing (the loop's own cost)")
    args = parser.parse_args()
    free = args.network == "free"
    if free:  # its tiny operations on one thread: the threads of a pool would wait for cores the workers hold
        torch.set_num_threads(1)

    label_file, given, _ = data.cifar10n("aggre", args.subset)
    manifest = read_dataset(label_file)
    paths, labels = manifest.paths, manifest.label_indices()
    for file in paths:  # the same page-cache state for both loops
        file.read_bytes()
    device = resolve_device(args.device)
    scan_config = labelfix.load_config(None, {"embedding.device": args.device, "embedding.workers": args.workers})
    size = auto_input_size(typical_short_side(paths), 224)
    config = finetune_config(scan_config, size)
    config = config.model_copy(update={"data": config.data.model_copy(update={
        "workers": default_workers() if args.workers is None else args.workers})})
    n_classes = len(manifest.classes)

    warmup_seconds = training_warmup(config, n_classes, size, device, free)
    bare_seconds, network_rate = bare_epochs(paths, labels, n_classes, config, device, free)
    labelfix_seconds = labelfix_epochs(paths, labels, n_classes, config, device, free)
    seconds = {"labelfix": labelfix_seconds, "bare_timm": bare_seconds}
    if free:
        network = network_for(config, n_classes, free=True)
        loaders = {"bare_loader_alone": bare_loader(paths, labels, network, config, device),
                   "labelfix_loader_alone": train_loader(
                       training_images(paths, labels, network.data_config, config.augment),
                       batch_size=config.data.batch_size, workers=config.data.workers, seed=config.seed,
                       context=Context(device=device))}
        for name, loader in loaders.items():  # two epochs each, as the loops ran
            seconds[name] = [data.seconds_to_iterate(loader) for _ in range(2)]
    n = len(paths)
    result = {
        "images": n, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": "free" if free else config.model.name, "input_size": size, "batch_size": config.data.batch_size,
        "workers": config.data.workers, "precision": str(autocast_dtype(config.precision, device) or "fp32"),
        "images_per_second": {**{name: round(n / each[1], 1) for name, each in seconds.items()},
                              "network_alone": round(network_rate, 1)},
        "epoch_seconds": {name: [round(x, 2) for x in each] for name, each in seconds.items()},
        "labelfix_over_bare": round(bare_seconds[1] / labelfix_seconds[1], 3),
        "first_training_step_seconds": round(warmup_seconds, 2),
        "labelfix": labelfix.__version__,
    }
    print(f"\nfine-tuning on {n} CIFAR-10N images (second epochs compared): {result['model']} at {size} px on "
          f"{result['device']} (batch {result['batch_size']}, {result['workers']} workers, {result['precision']})")
    for name, rate in result["images_per_second"].items():
        print(f"{name:22}{rate:>10.1f} images/s")
    print(f"labelfix / bare timm: {result['labelfix_over_bare']:.2f}x (the process's first training step, "
          f"{result['first_training_step_seconds']} s, ran before both)")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"finetune_speed-{n}-{device.type}{'-free' if free else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
