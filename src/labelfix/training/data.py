"""Labelled image files as batches: decoding in workers, unreadable files skipped, seeded shuffling or balancing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from labelfix.images.io import UnreadableImage, load_rgb
from labelfix.training.distributed import Context

log = logging.getLogger(__name__)


class LabeledImages(Dataset):
    """(tensor, class index) per image file; an unreadable file gives (None, index) and is dropped by `collate`."""

    def __init__(self, paths: Sequence[Path], labels: np.ndarray, transform) -> None:
        self.paths, self.labels, self.transform = list(paths), np.asarray(labels), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int]:
        try:
            image = load_rgb(self.paths[index])
        except UnreadableImage as error:
            log.warning("%s: skipped (%s)", self.paths[index], error)
            return None, int(self.labels[index])
        return self.transform(image), int(self.labels[index])


def collate(batch: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack the readable images (B, C, H, W) and their labels (B,)."""
    good = [(image, label) for image, label in batch if image is not None]
    if not good:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.stack([image for image, _ in good]), torch.tensor([label for _, label in good])


class SeededSampler(Sampler[int]):
    """This process's share of a per-epoch seeded order: a shuffle, or with `balance` a draw with replacement
    in which every class is equally likely (class-balanced weighted sampling)."""

    def __init__(self, labels: np.ndarray, seed: int, context: Context, *, balance: bool = False) -> None:
        self.labels, self.seed, self.context, self.balance = np.asarray(labels), seed, context, balance
        self.epoch = 0
        self.per_process = -(-len(self.labels) // context.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_process

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        total = self.per_process * self.context.world_size
        if self.balance:
            weights = torch.as_tensor(1.0 / np.bincount(self.labels)[self.labels], dtype=torch.float64)
            order = torch.multinomial(weights, total, replacement=True, generator=generator)
        else:
            order = torch.randperm(len(self.labels), generator=generator)
            order = torch.cat([order, order[: total - len(order)]])  # pad so every process gets as many
        return iter(order[self.context.rank :: self.context.world_size].tolist())


def train_loader(dataset: LabeledImages, *, batch_size: int, workers: int, seed: int, context: Context,
                 balance: bool = False, drop_last: bool = False) -> DataLoader:
    """Shuffled (or balanced) batches; worker augmentation seeds follow from `seed`."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=SeededSampler(dataset.labels, seed, context, balance=balance),
        num_workers=workers,
        collate_fn=collate,
        pin_memory=context.device.type == "cuda",
        drop_last=drop_last and len(dataset) // context.world_size > batch_size,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def eval_loader(dataset: LabeledImages, *, batch_size: int, workers: int, context: Context | None = None) -> DataLoader:
    """Batches in file order; with several processes, each takes every world_size-th image."""
    indices = list(range(len(dataset)))
    if context is not None and context.distributed:
        indices = indices[context.rank :: context.world_size]
    return DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size, num_workers=workers,
                      collate_fn=collate, shuffle=False)
