"""Labelled images as batches: the dataset read and split, decoding in workers, unreadable files skipped, seeded
shuffling or class balancing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from labelfix.config import AugmentConfig, TrainConfig
from labelfix.dataset import Item, Manifest, ReaderOptions, read_dataset
from labelfix.devices import default_batch_size, default_workers, images_to
from labelfix.errors import ConfigError, DatasetError
from labelfix.images.io import UnreadableImage, open_image, read_bytes
from labelfix.images.transforms import split_eval_transform, split_train_transform, train_decode_side
from labelfix.training.distributed import Context
from labelfix.training.network import Network
from labelfix.training.splits import TRAIN, VAL, assign_splits, read_split_file, training_mask

log = logging.getLogger(__name__)


class LabeledImages(Dataset):
    """(tensor, class index) per image file, or (tensor, 0/1 vector) for label sets; an unreadable file gives
    (None, label) and is dropped by `collate`. With `decode_at_least`, a large JPEG is decoded reduced while both its
    sides stay at least that long (`images.io.open_image`); `training_images` and `evaluation_images` set it to what
    their transform needs. With `finish`, the transform makes uint8 pixels and `finish` turns a batch of them into
    the network's input where the batch is (see `on_device`)."""

    def __init__(self, paths: Sequence[Path], labels: np.ndarray, transform, decode_at_least: int | None = None,
                 finish: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.paths, self.labels, self.transform = list(paths), np.asarray(labels), transform
        self.decode_at_least, self.finish = decode_at_least, finish

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int | np.ndarray]:
        label = self.labels[index] if self.labels.ndim == 2 else int(self.labels[index])
        try:
            image, _ = open_image(read_bytes(self.paths[index]), self.decode_at_least)
        except UnreadableImage as error:
            log.warning("%s: skipped (%s)", self.paths[index], error)
            return None, label
        return self.transform(image), label


def training_images(paths: Sequence[Path], labels: np.ndarray, data_config: dict, augment: AugmentConfig) -> LabeledImages:
    """`paths` with `train_transform`, large JPEGs decoded reduced to what its smallest random crop needs; the workers
    send uint8 pixels, normalised where the batch goes (`SplitTrainTransform`, `on_device`)."""
    transform = split_train_transform(data_config, augment)
    return LabeledImages(paths, labels, transform.to_pixels, train_decode_side(data_config, augment), transform.finish)


def evaluation_images(paths: Sequence[Path], labels: np.ndarray, data_config: dict) -> LabeledImages:
    """`paths` with `eval_transform`, large JPEGs decoded reduced to the side it resizes to; the workers send uint8
    pixels, normalised where the batch goes (`SplitTransform`, `on_device`)."""
    transform = split_eval_transform(data_config)
    return LabeledImages(paths, labels, transform.to_pixels, transform.decode_side, transform.normalize)


def on_device(images: torch.Tensor, batches: Iterable, device: torch.device) -> torch.Tensor:
    """A batch of `batches` on `device` as the network takes it: uint8 pixels of `training_images` and
    `evaluation_images` are normalised (training: and randomly erased) there; float batches (from any other loader
    or iterable) come as they are."""
    images = images_to(images, device)
    finish = getattr(getattr(batches, "dataset", None), "finish", None)
    return images if finish is None else finish(images)


def collate(batch: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack the readable images (B, C, H, W) and their labels (B,) or label vectors (B, K)."""
    good = [(image, label) for image, label in batch if image is not None]
    if not good:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.stack([image for image, _ in good]), torch.as_tensor(np.array([label for _, label in good]))


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
        if self.balance:  # single-label only (read_training_set refuses it for label sets)
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
    return DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers, collate_fn=collate)


@dataclass
class TrainingSet:
    """A dataset read and split: which images train and which validate."""

    manifest: Manifest
    splits: np.ndarray  # (N,) train / val / unused
    trained: np.ndarray  # (N,) bool: train split, within the subset

    def paths(self, mask: np.ndarray) -> list[Path]:
        return [path for path, chosen in zip(self.manifest.paths, mask) if chosen]

    @property
    def multilabel(self) -> bool:
        return self.manifest.is_multilabel

    def labels(self, mask: np.ndarray) -> np.ndarray:
        """Class indices (n,), or 0/1 label vectors (n, K) float32 for label sets."""
        if self.multilabel:
            return self.manifest.label_matrix()[mask].astype(np.float32)
        return self.manifest.label_indices()[mask]

    @property
    def validating(self) -> np.ndarray:
        return self.splits == VAL


def read_training_set(path: str | Path, config: TrainConfig) -> TrainingSet:
    """Read the dataset and split it (saved split first, then the dataset's own, then a seeded stratified one)."""
    manifest = read_dataset(path, ReaderOptions(**config.dataset.model_dump()))
    if manifest.is_multilabel:
        _check_multilabel_settings(path, config)
    saved = read_split_file(config.data.split_file) if config.data.split_file else None
    splits = assign_splits(manifest, val_fraction=config.data.val_fraction, seed=config.seed, saved=saved)
    trained = training_mask(manifest, splits, config.data.subset_fraction, config.seed)
    if not trained.any():
        raise DatasetError(f"{path}: no training images after splitting; check the split folders or --split-file")
    extra = _extra_items(config.data.extra, manifest.classes)
    if extra:  # training only: after the split, so they never validate
        manifest = replace(manifest, items=manifest.items + extra)
        splits = np.concatenate([splits, np.full(len(extra), TRAIN, dtype=splits.dtype)])
        trained = np.concatenate([trained, np.ones(len(extra), bool)])
    return TrainingSet(manifest=manifest, splits=splits, trained=trained)


def _check_multilabel_settings(path: str | Path, config: TrainConfig) -> None:
    """Options that need one label per image, named for a dataset of label sets."""
    regularization = config.regularization
    unsupported = [flag for flag, on in (("--balance", config.data.balance),
                                         ("mixup", regularization.mixup > 0), ("cutmix", regularization.cutmix > 0)) if on]
    if unsupported:
        raise ConfigError(f"{path}: a multi-label dataset (label sets) trains without {', '.join(unsupported)}; "
                          "leave them out")


def _extra_items(label_files: list[Path], classes: tuple[str, ...]) -> tuple[Item, ...]:
    """The items of `--extra` datasets, with absolute paths, checked to use the dataset's classes only."""
    items: list[Item] = []
    for label_file in label_files:
        extra = read_dataset(label_file, min_classes=1)
        unknown = sorted(set(extra.classes) - set(classes))
        if unknown:
            raise DatasetError(f"--extra {label_file}: classes {', '.join(unknown[:5])} are not in the dataset "
                               f"({', '.join(classes)})")
        items += [replace(item, path=path.as_posix(), split=TRAIN) for item, path in zip(extra.items, extra.paths)]
    return tuple(items)


def training_batch_size(device: torch.device) -> int:
    """Images per training step when none is asked for: 32 on a CPU, 128 on CUDA."""
    return default_batch_size(device, cpu=32, cuda=128)


def with_device_batch_size(config: TrainConfig, device: torch.device) -> TrainConfig:
    """`config` with its batch size set: as configured, else `training_batch_size`."""
    if config.data.batch_size is not None:
        return config
    resolved = config.model_copy(deep=True)
    resolved.data.batch_size = training_batch_size(device)
    return resolved


def worker_count(config: TrainConfig) -> int:
    """The configured number of decoding workers, or the default for this machine."""
    return default_workers() if config.data.workers is None else config.data.workers


def batches_for_training(data: TrainingSet, network: Network, config: TrainConfig,
                         context: Context) -> tuple[DataLoader, DataLoader | None]:
    """Train and validation loaders (validation None when there are no validation images)."""
    mixing = config.regularization.mixup > 0 or config.regularization.cutmix > 0
    train_set = training_images(data.paths(data.trained), data.labels(data.trained), network.data_config, config.augment)
    train_batches = train_loader(train_set, batch_size=config.data.batch_size, workers=worker_count(config), seed=config.seed,
                                 context=context, balance=config.data.balance, drop_last=mixing)
    val_batches = None
    if data.validating.any():
        val_set = evaluation_images(data.paths(data.validating), data.labels(data.validating), network.data_config)
        val_batches = eval_loader(val_set, batch_size=config.data.batch_size, workers=worker_count(config), context=context)
    return train_batches, val_batches
