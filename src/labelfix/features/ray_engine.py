"""Embedding on Ray: decode in Ray Data CPU tasks, embed in an actor pool (one replica per GPU), stream batches back.

`ray_embed_files` keeps the contract of `inference.embed_files`, so the driver caches each batch as it arrives and
an interrupted scan resumes like a local one. Ray is imported inside the functions: it is an optional extra.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from labelfix.backbones import Backbone
from labelfix.errors import ConfigError
from labelfix.features.inference import DecodedBatch, EmbeddedBatch, ImageFiles, embed_decoded
from labelfix.images.transforms import SplitTransform, split_eval_transform

if TYPE_CHECKING:
    from ray import ObjectRef

INSTALL_HINT = 'pip install "labelfix[ray]"'
CPUS_PER_EMBEDDER = 2  # without GPUs: one backbone replica per this many CPUs; the others decode
TORCH_PROCESS_BYTES = 640 * 2**20  # a Ray worker with torch loaded, measured: ~490 MiB
ACTIVATION_FACTOR = 32  # a forward pass's peak memory / its float32 input's; lite0 at 160 px, measured: ~25


def require_ray() -> None:
    """Raise a ConfigError that says how to install Ray when Ray Data cannot be imported."""
    try:
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ConfigError(f"--engine ray needs Ray Data ({error}); install it with: {INSTALL_HINT}") from None


def ray_embed_files(
    paths: Sequence[Path],
    backbone: Backbone,
    *,
    batch_size: int = 64,
    with_statistics: bool = True,
    with_activations: bool = False,
    hash_contents: bool = False,
    skip: Container[str] = (),
    address: str | None = None,
) -> Iterator[EmbeddedBatch]:
    """`embed_files` on a Ray cluster (`address`; None starts a local one): one `EmbeddedBatch` per batch, in the
    order they finish. Every node must read `paths` (absolute paths are sent); with `hash_contents` the decode tasks
    hash what they read, and skip decoding contents in `skip`, as `embed_files` does."""
    if not paths:
        return
    require_ray()
    import ray

    started_here = _connect(address)
    try:
        dataset = _embedding_dataset(paths, backbone, batch_size, with_statistics, with_activations, hash_contents, skip)
        batches = dataset.iter_batches(batch_size=None, batch_format="numpy")
        try:
            for columns in batches:
                yield _embedded_batch(columns)
        finally:  # a scan stopped midway releases its actors now, not when collected (they hold the cluster's CPUs)
            if hasattr(batches, "close"):
                batches.close()
    finally:
        if started_here:
            ray.shutdown()


def _connect(address: str | None) -> bool:
    """Join the Ray cluster at `address` (or start a local one) unless Ray is already initialised; quiet logs, no
    dashboard. True when this call initialised Ray."""
    import ray

    data_context = ray.data.DataContext.get_current()
    data_context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": ours show
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise ConfigError(f"--ray-address {address}: no Ray cluster to join there ({error}); start one with "
                          "`ray start --head`, or leave --ray-address out to start a local Ray") from None
    return True


def _embedding_dataset(paths: Sequence[Path], backbone: Backbone, batch_size: int, with_statistics: bool,
                       with_activations: bool, hash_contents: bool, skip: Container[str]):
    """The lazy Ray dataset: one row per batch of files (the local engine's batches, so that the embeddings are the
    same) → a decode task per batch → the embedding actors, a whole decoded batch at a time."""
    import ray

    transform = split_eval_transform(backbone.data_config)
    pixel_shape = _pixel_shape(transform)
    absolute = [str(Path(path).absolute()) for path in paths]
    batches = [{"first": first, "paths": absolute[first : first + batch_size]}
               for first in range(0, len(absolute), batch_size)]
    count, resources, device = _embedder_placement(ray.cluster_resources())
    replica = {"backbone": ray.put(backbone), "device": device, "with_activations": with_activations}
    return (
        ray.data.from_items(batches, override_num_blocks=len(batches))
        .map_batches(_decode, batch_size=None, batch_format="numpy", num_cpus=1, fn_kwargs={
            "transform": transform, "with_statistics": with_statistics, "pixel_shape": pixel_shape,
            "hash_contents": hash_contents, "skip": skip})
        # the replicas declare their memory: Ray places them where they fit, and does not fuse the decode tasks
        # (which declare none) into the actors
        .map_batches(_Embedder, batch_size=None, batch_format="numpy", fn_constructor_kwargs=replica,
                     compute=ray.data.ActorPoolStrategy(size=count), **resources,
                     memory=_replica_bytes(backbone, batch_size * int(np.prod(pixel_shape))))
    )


def _embedder_placement(cluster: dict[str, float]) -> tuple[int, dict[str, float], str]:
    """(replicas, resources per replica, torch device) of the backbone: one per GPU, else one per
    CPUS_PER_EMBEDDER CPUs on a single CPU each."""
    gpus = int(cluster.get("GPU", 0))
    if gpus:
        return gpus, {"num_gpus": 1}, "cuda"
    return max(1, int(cluster.get("CPU", 1)) // CPUS_PER_EMBEDDER), {"num_cpus": 1}, "cpu"


def _replica_bytes(backbone: Backbone, batch_values: int) -> int:
    """Memory of an embedding actor: a process with torch loaded, the weights twice (while unpickled), and a forward
    pass over a batch of `batch_values` float32 input values."""
    weights = sum(tensor.numel() * tensor.element_size() for tensor in backbone.model.state_dict().values())
    return TORCH_PROCESS_BYTES + 2 * weights + ACTIVATION_FACTOR * 4 * batch_values


def _pixel_shape(transform: SplitTransform) -> tuple[int, ...]:
    """(C, H, W) of what `to_pixels` makes: the same for every image (the eval transform crops to the input size)."""
    return tuple(transform.to_pixels(Image.new("RGB", (64, 64))).shape)


def _decode(batch: dict[str, np.ndarray], *, transform: SplitTransform, with_statistics: bool,
            pixel_shape: tuple[int, ...], hash_contents: bool, skip: Container[str]) -> dict[str, np.ndarray]:
    """A Ray Data task: decode batches of files as `ImageFiles` does, one row per file; pixels of unreadable files
    and of files skipped as cached are zeros."""
    files = ImageFiles([Path(path) for paths in batch["paths"] for path in paths], transform.to_pixels,
                       with_statistics=with_statistics, decode_at_least=transform.decode_side,
                       hash_contents=hash_contents, skip=skip)
    indices = np.concatenate([first + np.arange(len(paths)) for first, paths in zip(batch["first"], batch["paths"])])
    pixels = np.zeros((len(files), *pixel_shape), dtype=np.uint8)
    decoded = [files[k] for k in range(len(files))]
    for k, file in enumerate(decoded):
        if not file.error and not file.cached:
            pixels[k] = file.pixels.numpy()
    return {"index": indices, "pixels": pixels, "error": np.array([file.error for file in decoded], dtype=object),
            "statistics": np.array([json.dumps(file.statistics) for file in decoded], dtype=object),
            "content_hash": np.array([file.content_hash or "" for file in decoded], dtype=object),
            "cached": np.array([file.cached for file in decoded], dtype=bool)}


class _Embedder:
    """A Ray Data actor holding one backbone replica: embeds decoded batches as `embed_files` does."""

    def __init__(self, backbone: ObjectRef, device: str, with_activations: bool) -> None:
        import ray

        self.backbone = backbone = ray.get(backbone)
        self.transform = split_eval_transform(backbone.data_config)
        self.device = torch.device(device)
        self.with_activations = with_activations
        backbone.model.to(device=self.device, memory_format=torch.channels_last)  # in place

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        read = ~batch["cached"]
        readable = (batch["error"] == "") & read
        images = torch.from_numpy(batch["pixels"][readable]) if readable.any() else None
        decoded = DecodedBatch(images, batch["index"][read].tolist(), list(batch["error"][read]),
                               [json.loads(s) for s in batch["statistics"][read]])
        embedded = embed_decoded(decoded, self.backbone, self.transform, self.device,
                                 with_activations=self.with_activations)
        return _columns(batch, readable, embedded)


def _columns(batch: dict[str, np.ndarray], readable: np.ndarray, embedded: EmbeddedBatch) -> dict[str, np.ndarray]:
    """An `EmbeddedBatch` as one row per input file (zeros where unreadable), for Ray Data to carry."""
    vectors = np.zeros((len(readable), embedded.vectors.shape[1]), dtype=np.float32)
    vectors[readable] = embedded.vectors
    statistics = np.array(["{}"] * len(readable), dtype=object)
    statistics[readable] = [json.dumps(s) for s in embedded.statistics]
    columns = {"index": batch["index"], "error": batch["error"], "vector": vectors, "statistics": statistics,
               "content_hash": batch["content_hash"], "cached": batch["cached"]}
    if embedded.activations is not None:
        activations = np.zeros((len(readable), *embedded.activations.shape[1:]), dtype=np.float16)
        activations[readable] = embedded.activations
        columns["activations"] = activations
    return columns


def _embedded_batch(columns: dict[str, np.ndarray]) -> EmbeddedBatch:
    """Rows streamed back from the actors as the `EmbeddedBatch` that `embed_files` would have yielded."""
    failed = columns["error"] != ""
    readable = ~failed & ~columns["cached"]
    indices = columns["index"]
    return EmbeddedBatch(
        indices=indices[readable].tolist(),
        vectors=np.ascontiguousarray(columns["vector"][readable], dtype=np.float32),
        statistics=[json.loads(s) for s in columns["statistics"][readable]],
        errors={int(i): str(e) for i, e in zip(indices[failed], columns["error"][failed])},
        activations=columns["activations"][readable] if "activations" in columns else None,
        content_hashes={int(i): str(h) for i, h in zip(indices, columns["content_hash"]) if h},
        cached=indices[columns["cached"]].tolist(),
    )

