"""Batched forward passes over image files: decode in DataLoader workers, CUDA + AMP when present."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from labelfix.backbones import Backbone
from labelfix.devices import default_workers, inference_autocast, resolve_device, reused_heap
from labelfix.images.io import UnreadableImage, content_hash, open_image, read_bytes
from labelfix.images.stats import image_statistics
from labelfix.images.transforms import SplitTransform, split_eval_transform


class DecodedFile(NamedTuple):
    """What a decoding worker makes of one file."""

    pixels: torch.Tensor  # uint8 (C, H, W); empty where unreadable or not decoded
    index: int
    error: str  # why the file is unreadable; "" where it is readable
    statistics: dict
    content_hash: str | None = None  # of the bytes read, when asked for (None if they could not be read)
    cached: bool = False  # its content is among the `skip` ones: read and hashed, not decoded


class ImageFiles(Dataset):
    """Resized uint8 pixels (C, H, W) and statistics of image files; an unreadable file gives its reason instead.
    With `decode_at_least`, a large JPEG is decoded reduced (see `images.io.open_image`). With `hash_contents`, the
    hash of the bytes read comes too (so a scan reads each file once), and a file whose content is in `skip` is not
    decoded."""

    def __init__(self, paths: Sequence[Path], to_pixels: Callable, *, with_statistics: bool = True,
                 decode_at_least: int | None = None, hash_contents: bool = False,
                 skip: Container[str] = ()) -> None:
        self.paths = list(paths)
        self.to_pixels = to_pixels
        self.with_statistics = with_statistics
        self.decode_at_least = decode_at_least
        self.hash_contents = hash_contents
        self.skip = skip

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> DecodedFile:
        try:
            data = read_bytes(self.paths[index])
        except UnreadableImage as error:
            return DecodedFile(torch.zeros(0), index, str(error), {})
        content = content_hash(data) if self.hash_contents else None
        if content in self.skip:
            return DecodedFile(torch.zeros(0), index, "", {}, content, cached=True)
        try:
            image, facts = open_image(data, self.decode_at_least)
        except UnreadableImage as error:
            return DecodedFile(torch.zeros(0), index, str(error), {}, content)
        statistics = image_statistics(image, facts) if self.with_statistics else {}
        return DecodedFile(self.to_pixels(image), index, "", statistics, content)


@dataclass
class DecodedBatch:
    """A batch of `DecodedFile`s as `_collate` gathers them; the lists are of the files read and not skipped."""

    pixels: torch.Tensor | list[torch.Tensor] | None  # the readable images (see `_collate`)
    indices: list[int]
    errors: list[str]
    statistics: list[dict]
    content_hashes: dict[int, str] = field(default_factory=dict)  # position -> hash, of every file read and hashed
    cached: list[int] = field(default_factory=list)  # positions of the files skipped as cached

    def pin_memory(self) -> DecodedBatch:
        """The pixels in page-locked memory (the DataLoader calls this with `pin_memory`, on CUDA)."""
        pixels = self.pixels
        if pixels is not None:
            pixels = pixels.pin_memory() if isinstance(pixels, torch.Tensor) else [p.pin_memory() for p in pixels]
        return replace(self, pixels=pixels)


def _collate(batch: list[DecodedFile]) -> DecodedBatch:
    """The readable images stacked (a list when their sizes differ: `SplitTransform.finish` resizes them). The
    batch is stacked channels-last, the layout the pixels come in from PIL and the one the network runs in: no
    transposing here, and none of the float batch in the main process (on 2 cores that copy took a third of the
    main process's time)."""
    hashes = {file.index: file.content_hash for file in batch if file.content_hash}
    cached = [file.index for file in batch if file.cached]
    batch = [file for file in batch if not file.cached]
    good = [file.pixels for file in batch if not file.error]
    if len({tuple(tensor.shape) for tensor in good}) == 1:
        pixels = torch.stack([tensor.permute(1, 2, 0) for tensor in good]).permute(0, 3, 1, 2)
    else:
        pixels = good or None
    return DecodedBatch(pixels, [file.index for file in batch], [file.error for file in batch],
                        [file.statistics for file in batch], hashes, cached)


@dataclass
class EmbeddedBatch:
    indices: list[int]  # positions in the `paths` given, of the images embedded in this batch
    vectors: np.ndarray  # (len(indices), D) float32
    statistics: list[dict]  # image statistics, one per embedded image
    errors: dict[int, str]  # position -> why the image could not be read
    activations: np.ndarray | None = None  # (len(indices), views, C, h, w) float16, when asked for
    content_hashes: dict[int, str] = field(default_factory=dict)  # position -> hash of the bytes read, when asked
    cached: list[int] = field(default_factory=list)  # positions read and found cached (`skip`): not embedded


def embed_files(
    paths: Sequence[Path],
    backbone: Backbone,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: torch.device | None = None,
    with_statistics: bool = True,
    with_activations: bool = False,
    hash_contents: bool = False,
    skip: Container[str] = (),
) -> Iterator[EmbeddedBatch]:
    """Embed every file with the backbone's own eval preprocessing (and compute image statistics in the
    same decode, and keep the activations at the backbone's split point when asked); one `EmbeddedBatch` per
    batch. With `hash_contents`, each file's content hash comes too, and a file whose content is in `skip` is read
    and hashed only (`EmbeddedBatch.cached`)."""
    device = device or resolve_device()
    transform = split_eval_transform(backbone.data_config)
    for decoded in _decoded_batches(paths, backbone, transform, batch_size, workers, device, with_statistics,
                                    hash_contents=hash_contents, skip=skip):
        embedded = embed_decoded(decoded, backbone, transform, device, with_activations=with_activations)
        embedded.content_hashes, embedded.cached = decoded.content_hashes, decoded.cached
        yield embedded


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
    for decoded in _decoded_batches(paths, backbone, transform, batch_size, workers, device, with_statistics=False):
        good, failed = _good_and_failed(decoded.indices, decoded.errors)
        activations = np.zeros((0,), np.float16)
        if decoded.pixels is not None:
            with torch.inference_mode(), autocast:
                split = backbone.mirror_activations(_model_input(decoded.pixels, transform, device))
            activations = split.to(torch.float16).cpu().numpy()
        yield EmbeddedBatch(good, np.zeros((len(good), 0), np.float32), [{} for _ in good], failed, activations)


def _decoded_batches(paths: Sequence[Path], backbone: Backbone, transform: SplitTransform, batch_size: int,
                     workers: int | None, device: torch.device, with_statistics: bool, *,
                     hash_contents: bool = False, skip: Container[str] = ()) -> Iterator[DecodedBatch]:
    """The files decoded by DataLoader workers in `_collate`'d batches; the backbone's model moved to `device`. The
    consumer's forward passes run while this waits at a batch, so inside `reused_heap` (its workers too)."""
    workers = default_workers() if workers is None else workers
    # on CUDA small images are resized there (see SplitTransform.to_pixels); on a CPU the workers resize them
    to_pixels = partial(transform.to_pixels, small_as_they_are=device.type == "cuda")
    files = ImageFiles(paths, to_pixels, with_statistics=with_statistics, decode_at_least=transform.decode_side,
                       hash_contents=hash_contents, skip=skip)
    loader = DataLoader(files, batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                        pin_memory=device.type == "cuda", persistent_workers=False)
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
    decoded: DecodedBatch,
    backbone: Backbone,
    transform: SplitTransform,
    device: torch.device,
    *,
    with_activations: bool = False,
) -> EmbeddedBatch:
    """One batch as `_collate` makes it, embedded on `device` (where the backbone's model already is); the pretrained
    head's prediction entropy is added to each image's statistics."""
    pixels = decoded.pixels
    good, failed = _good_and_failed(decoded.indices, decoded.errors)
    good_statistics = [s for i, s in zip(decoded.indices, decoded.statistics) if i not in failed]
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
