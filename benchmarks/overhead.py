"""What a scan costs besides the network: the scan with a backbone whose forward pass is free, next to PIL's
decode-and-resize alone, stage by stage.

    python benchmarks/overhead.py --dataset cifar10n --subset 10000
    python benchmarks/overhead.py --dataset hymenoptera
    python benchmarks/overhead.py --dataset large-photos --enlarge 4
    python benchmarks/overhead.py --dataset many-photos --copies 10   # 3,960 photos of about 500 × 375

The free backbone keeps the real preprocessing (lite0's, at the scan's input size) and returns embeddings as
long as lite0's (1,712 numbers: a fixed projection of a 4×4 grid of mean colours), so every other stage does its
real work at its real size: reading and hashing files, decoding, image statistics, the cache, neighbours,
cross-validation, issues and the outputs. Measured in one run, after the files are in the OS page cache: the cold
scan (empty cache), the warm scan, and the bare decode loop (open, RGB, resize to the input size, in the same
worker processes); then, in this one process, each step a decoding worker takes per image and the main process's
normalisation, beside the bare loop's open, decode and resize (`--per-image` images). Writes
benchmarks/results/overhead-*.json.

OpenMP's threads here sleep when idle (OMP_WAIT_POLICY=PASSIVE, unless set): with a network that costs nothing,
the main process's few CPU operations per batch would otherwise leave its idle threads spinning on the cores the
decoding workers need, a cost that a real network (its threads busy) or a GPU (no CPU operations) does not have.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP (see above)

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
import labelfix.pipeline  # noqa: E402
from labelfix.backbones import Backbone, load_backbone, with_input_size  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import default_workers, reused_heap  # noqa: E402
from labelfix.images.io import content_hash, open_image, read_bytes  # noqa: E402
from labelfix.images.stats import image_statistics  # noqa: E402
from labelfix.images.transforms import split_eval_transform  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class FreeModel(nn.Module):
    """A stand-in for a timm model whose forward pass costs nothing: features of `dim` numbers, a fixed projection
    of a 4×4 grid of mean colours (of every fourth pixel)."""

    pretrained_cfg: dict = {}
    num_classes = 0

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("projection", torch.randn(48, dim, generator=torch.Generator().manual_seed(0)))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        colours = nn.functional.adaptive_avg_pool2d(images[:, :, ::4, ::4], 4).flatten(1)
        return (colours @ self.projection)[:, :, None, None]

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return features.flatten(1)


def free_backbone(feature_dim: int | None = None) -> Backbone:
    """lite0's preprocessing around a free model, with embeddings as long as lite0's unless `feature_dim`."""
    real = load_backbone("lite0")
    dim = feature_dim or real.feature_dim
    return replace(real, name="free", architecture="free", model=FreeModel(dim), weights_hash=f"free{dim}",
                   feature_dim=dim, has_classifier=False, stages_pooled=0)


class DecodeAndResize(Dataset):
    """The bare loop: open, convert to RGB, resize to the input size."""

    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> int:
        with Image.open(self.paths[index]) as image:
            image.convert("RGB").resize((self.size, self.size), Image.Resampling.BICUBIC)
        return index


def per_image_milliseconds(paths: list[Path], backbone: Backbone, batch_size: int) -> dict[str, float]:
    """What a decoding worker does for each image, step by step, and what the main process does for it, timed in
    this process on `paths` (already in the page cache): milliseconds per image, median of three rounds."""
    transform = split_eval_transform(backbone.data_config)
    size = backbone.data_config["input_size"][-1]
    data = [read_bytes(path) for path in paths]
    decoded = [open_image(item, transform.decode_side) for item in data]
    pixels = [transform.to_pixels(image) for image, _ in decoded]
    batches = [torch.stack(pixels[i : i + batch_size]).contiguous(memory_format=torch.channels_last)
               for i in range(0, len(pixels), batch_size)]

    def bare(path: Path) -> None:
        with Image.open(path) as image:
            image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)

    steps = {
        "read": lambda: [read_bytes(path) for path in paths],
        "content hash": lambda: [content_hash(item) for item in data],
        "decode": lambda: [open_image(item, transform.decode_side) for item in data],
        "statistics": lambda: [image_statistics(image, facts) for image, facts in decoded],
        "resize, crop, uint8": lambda: [transform.to_pixels(image) for image, _ in decoded],
        "normalise (main process)": lambda: [transform.normalize(batch) for batch in batches],
        "bare loop: open, decode, resize": lambda: [bare(path) for path in paths],
    }
    timings = {}
    with reused_heap():  # as in the scan, whose workers start inside it
        for name, step in steps.items():
            rounds = []
            for _ in range(3):
                start = time.perf_counter()
                step()
                rounds.append(time.perf_counter() - start)
            timings[name] = round(sorted(rounds)[1] / len(paths) * 1e3, 3)
    return timings


def decode_and_resize_seconds(paths: list[Path], size: int, workers: int, batch_size: int) -> float:
    return data.seconds_to_iterate(DataLoader(DecodeAndResize(paths, size), batch_size=batch_size, num_workers=workers,
                                              collate_fn=lambda batch: batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_dataset_arguments(parser, "cifar10n", subset=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--per-image", type=int, default=300, help="images timed step by step in one process")
    parser.add_argument("--feature-dim", type=int, default=None,
                        help="embedding length (default lite0's, 1,712; neighbours and cross-validation grow with it)")
    args = parser.parse_args()

    path, facts, dataset_name = data.dataset_of(args)
    paths = read_dataset(path).paths
    for file in paths:  # the same page-cache state for every measurement
        file.read_bytes()
    workers = default_workers() if args.workers is None else args.workers
    labelfix.pipeline.load_backbone = lambda name, weights=None: free_backbone(args.feature_dim)
    options = dict(batch_size=args.batch_size, workers=workers, folds=5, device="cpu")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        cold = labelfix.scan(path, cache_dir=cache, out=Path(out) / "cold", **options)
        cold_seconds = time.perf_counter() - start
        start = time.perf_counter()
        warm = labelfix.scan(path, cache_dir=cache, out=Path(out) / "warm", **options)
        warm_seconds = time.perf_counter() - start
    size = cold.record["model"]["preprocessing"]["input_size"][-1]
    bare_seconds = decode_and_resize_seconds(paths, size, workers, args.batch_size)
    sample = paths[:: max(1, len(paths) // args.per_image)][: args.per_image]
    per_image = per_image_milliseconds(sample, with_input_size(free_backbone(args.feature_dim), size), args.batch_size)

    n = len(paths)
    result = {
        **facts,
        "images": n, "input_size": size, "workers": workers, "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "feature_dim": cold.record["model"]["feature_dim"],
        "scan_cold_images_per_second": round(n / cold_seconds, 1),
        "scan_warm_images_per_second": round(n / warm_seconds, 1),
        "decode_and_resize_images_per_second": round(n / bare_seconds, 1),
        "scan_cold_over_decode_and_resize": round(bare_seconds / cold_seconds, 3),
        "embed_stage_over_decode_and_resize": round(bare_seconds / cold.record["timings_seconds"]["embed"], 3),
        "seconds": {"scan_cold": round(cold_seconds, 2), "scan_warm": round(warm_seconds, 2),
                    "decode_and_resize": round(bare_seconds, 2)},
        "per_image_ms_one_process": {"images": len(sample), **per_image},
        "scan_cold_stages": cold.record["timings_seconds"],
        "scan_warm_stages": warm.record["timings_seconds"],
        "labelfix": labelfix.__version__,
    }
    print(f"\n{args.dataset}: {n} images at {size} px, {workers} workers, the network's forward pass left out")
    print(f"{'':28}{'images/s':>10}")
    for name, key in (("scan, cold cache", "scan_cold_images_per_second"), ("scan, warm cache", "scan_warm_images_per_second"),
                      ("PIL decode + resize alone", "decode_and_resize_images_per_second")):
        print(f"{name:28}{result[key]:>10.1f}")
    print(f"cold scan / decode-and-resize: x{result['scan_cold_over_decode_and_resize']} "
          f"(its embedding stage alone: x{result['embed_stage_over_decode_and_resize']})")
    print("cold stages: " + ", ".join(f"{k} {v}" for k, v in result["scan_cold_stages"].items()))
    print("warm stages: " + ", ".join(f"{k} {v}" for k, v in result["scan_warm_stages"].items()))
    print(f"per image in one process ({len(sample)} images), ms: " + ", ".join(f"{k} {v}" for k, v in per_image.items()))
    RESULTS.mkdir(exist_ok=True)
    name = f"overhead-{dataset_name}{f'-dim{args.feature_dim}' if args.feature_dim else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
