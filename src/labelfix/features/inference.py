"""Batched forward passes over image files: decode in DataLoader workers, CUDA + AMP when present."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from labelfix.backbones import Backbone
from labelfix.devices import default_workers, inference_autocast, resolve_device, reused_heap
from labelfix.images.io import UnreadableImage, open_image, read_bytes
from labelfix.images.stats import image_statistics
from labelfix.images.transforms import SplitTransform, split_eval_transform


class ImageFiles(Dataset):
    """Resized uint8 pixels (C, H, W) and statistics of image files; an unreadable file gives its reason instead.
    With `decode_at_least`, a large JPEG is decoded reduced (see `images.io.open_image`)."""

    def __init__(self, paths: Sequence[Path], to_pixels: Callable, *, with_statistics: bool = True,
                 decode_at_least: int | None = None) -> None:
        self.paths = list(paths)
        self.to_pixels = to_pixels
        self.with_statistics = with_statistics
        self.decode_at_least = decode_at_least

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str, dict]:
        try:
            image, facts = open_image(read_bytes(self.paths[index]), self.decode_at_least)
        except UnreadableImage as error:
            return torch.zeros(0), index, str(error), {}
        statistics = image_statistics(image, facts) if self.with_statistics else {}
        return self.to_pixels(image), index, "", statistics


def _collate(batch: list[tuple]) -> tuple[torch.Tensor | list[torch.Tensor] | None, list[int], list[str], list[dict]]:
    """The readable images stacked (a list when their sizes differ: `SplitTransform.finish` resizes them). The
    batch is stacked channels-last, the layout the pixels come in from PIL and the one the network runs in: no
    transposing here, and none of the float batch in the main process (on 2 cores that copy took a third of the
    main process's time)."""
    good = [tensor for tensor, _, error, _ in batch if not error]
    _, indices, errors, statistics = zip(*batch)
    if len({tuple(tensor.shape) for tensor in good}) == 1:
        pixels = torch.stack([tensor.permute(1, 2, 0) for tensor in good]).permute(0, 3, 1, 2)
    else:
        pixels = good or None
    return pixels, list(indices), list(errors), list(statistics)


@dataclass
class EmbeddedBatch:
    indices: list[int]  # positions in the `paths` given, of the images embedded in this batch
    vectors: np.ndarray  # (len(indices), D) float32
    statistics: list[dict]  # image statistics, one per embedded image
    errors: dict[int, str]  # position -> why the image could not be read
    activations: np.ndarray | None = None  # (len(indices), views, C, h, w) float16, when asked for


def embed_files(
    paths: Sequence[Path],
    backbone: Backbone,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: torch.device | None = None,
    with_statistics: bool = True,
    with_activations: bool = False,
) -> Iterator[EmbeddedBatch]:
    """Embed every file with the backbone's own eval preprocessing (and compute image statistics in the
    same decode, and keep the activations at the backbone's split point when asked); one `EmbeddedBatch` per
    batch."""
    device = device or resolve_device()
    transform = split_eval_transform(backbone.data_config)
    for decoded in _decoded_batches(paths, backbone, transform, batch_size, workers, device, with_statistics):
        yield embed_decoded(decoded, backbone, transform, device, with_activations=with_activations)


def mirror_activations_of_files(
    paths: Sequence[Path],
    backbone: Backbone,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: torch.device | None = None,
) -> Iterator[EmbeddedBatch]:
    """The mirror images' activations at the backbone's split point (`Backbone.mirror_activations`: the network
    runs only up to there), one `EmbeddedBatch` per batch, its `vectors` empty."""
    device = device or resolve_device()
    transform = split_eval_transform(backbone.data_config)
    autocast = inference_autocast(device, backbone.reduced_precision)
    for pixels, indices, errors, _ in _decoded_batches(paths, backbone, transform, batch_size, workers, device,
                                                       with_statistics=False):
        good, failed = _good_and_failed(indices, errors)
        activations = np.zeros((0,), np.float16)
        if pixels is not None:
            with torch.inference_mode(), autocast:
                split = backbone.mirror_activations(_model_input(pixels, transform, device))
            activations = split.to(torch.float16).cpu().numpy()
        yield EmbeddedBatch(good, np.zeros((len(good), 0), np.float32), [{} for _ in good], failed, activations)


def _decoded_batches(paths: Sequence[Path], backbone: Backbone, transform: SplitTransform, batch_size: int,
                     workers: int | None, device: torch.device, with_statistics: bool) -> Iterator[tuple]:
    """The files decoded by DataLoader workers in `_collate`'d batches; the backbone's model moved to `device`. The
    consumer's forward passes run while this waits at a batch, so inside `reused_heap` (its workers too)."""
    workers = default_workers() if workers is None else workers
    # on CUDA small images are resized there (see SplitTransform.to_pixels); on a CPU the workers resize them
    to_pixels = partial(transform.to_pixels, small_as_they_are=device.type == "cuda")
    loader = DataLoader(
        ImageFiles(paths, to_pixels, with_statistics=with_statistics, decode_at_least=transform.decode_side),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    backbone.model.to(device=device, memory_format=torch.channels_last)  # in place
    with reused_heap():
        yield from loader


def _good_and_failed(indices: list[int], errors: list[str]) -> tuple[list[int], dict[int, str]]:
    """A batch's positions of readable images, and {position: why} of the others."""
    failed = {i: e for i, e in zip(indices, errors) if e}
    return [i for i in indices if i not in failed], failed


def _model_input(pixels: torch.Tensor | list[torch.Tensor], transform: SplitTransform,
                 device: torch.device) -> torch.Tensor:
    """A `_collate`'d batch of uint8 pixels as the network's normalised, channels-last input on `device`."""
    on_device = ([image.to(device, non_blocking=True) for image in pixels] if isinstance(pixels, list)
                 else pixels.to(device, non_blocking=True))
    return transform.normalize(transform.finish(on_device)).contiguous(memory_format=torch.channels_last)


def embed_decoded(
    decoded: tuple[torch.Tensor | list[torch.Tensor] | None, list[int], list[str], list[dict]],
    backbone: Backbone,
    transform: SplitTransform,
    device: torch.device,
    *,
    with_activations: bool = False,
) -> EmbeddedBatch:
    """One batch as `_collate` makes it, embedded on `device` (where the backbone's model already is); the pretrained
    head's prediction entropy is added to each image's statistics."""
    pixels, indices, errors, statistics = decoded
    good, failed = _good_and_failed(indices, errors)
    good_statistics = [s for i, s in zip(indices, statistics) if i not in failed]
    if pixels is None:
        return EmbeddedBatch(good, np.zeros((0, backbone.feature_dim), np.float32), good_statistics, failed)
    autocast = inference_autocast(device, backbone.reduced_precision)
    with torch.inference_mode():
        images = _model_input(pixels, transform, device)
        with autocast:
            embedded = backbone.embed(images, with_activations=with_activations)
    if embedded.entropy is not None:
        for statistics_of_image, value in zip(good_statistics, embedded.entropy.float().cpu().tolist()):
            if statistics_of_image:
                statistics_of_image["prediction_entropy"] = round(value, 5)
    activations = None if embedded.activations is None else embedded.activations.to(torch.float16).cpu().numpy()
    return EmbeddedBatch(good, embedded.features.float().cpu().numpy(), good_statistics, failed, activations)
