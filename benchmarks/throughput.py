"""Scan throughput next to the bare backbone forward pass (decode + preprocessing + one forward per image).

    python benchmarks/throughput.py --dataset hymenoptera
    python benchmarks/throughput.py --dataset cifar10n --subset 5000
    python benchmarks/throughput.py --dataset large-photos   # hymenoptera's photos 4x larger (2000 x 1500)

Both are measured in the same run, on the same files, after the files are in the OS page cache and after one
forward pass has warmed the device up (reported apart: on an H200 machine the first pass of a process takes
seconds), with the same preprocessing (the scan's, e.g. 160 px for 32×32 images). The scan is timed cold (empty embedding cache) and
warm (everything cached); the bare pass runs last. Writes benchmarks/results/throughput-*.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import timm.data
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
from labelfix import scan  # noqa: E402  (imports the pipeline now: its import time is not the scan's)
from labelfix.backbones import load_backbone  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import default_batch_size, default_workers, inference_autocast, resolve_device  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class PlainFiles(Dataset):
    """What a hand-written loop does: open, convert to RGB, transform."""

    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        try:
            return self.transform(Image.open(self.paths[index]).convert("RGB"))
        except OSError:
            return None


def _stack(batch):
    return torch.stack([x for x in batch if x is not None])


def bare_forward(paths, model_name: str, preprocessing: dict, batch_size: int, workers: int, device: torch.device) -> float:
    """Seconds for decode + transform + forward over all files, with the scan's backbone, preprocessing and loader."""
    backbone = load_backbone(model_name)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in preprocessing.items()}
    transform = timm.data.create_transform(**config, is_training=False)
    model = backbone.model.to(device).to(memory_format=torch.channels_last)
    loader = DataLoader(PlainFiles(paths, transform), batch_size=batch_size, num_workers=workers, collate_fn=_stack)
    start = time.perf_counter()
    with torch.inference_mode(), inference_autocast(device):  # the scan's default precision
        for images in loader:
            model(images.to(device).to(memory_format=torch.channels_last)).float().cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def device_warmup(model_name: str, device: torch.device) -> float:
    """Seconds of the process's first forward pass on `device` (CUDA loads its kernels then): paid once, before
    both the scan and the bare loop are timed, and reported on its own."""
    model = load_backbone(model_name).model.to(device).to(memory_format=torch.channels_last).eval()
    images = torch.zeros(8, 3, 160, 160, device=device).contiguous(memory_format=torch.channels_last)
    start = time.perf_counter()
    with torch.inference_mode(), inference_autocast(device):
        model(images).float().cpu()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="hymenoptera", choices=data.DATASETS)
    parser.add_argument("--subset", type=int, default=None, help="cifar10n: this many images")
    parser.add_argument("--model", default="lite0")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the scan's (64 on a CPU, 512 on CUDA)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    path = data.by_name(args.dataset, args.subset)
    manifest = read_dataset(path)
    paths = manifest.paths
    for file in paths:  # the same page-cache state for every measurement
        file.read_bytes()
    device = resolve_device(args.device)
    workers = default_workers() if args.workers is None else args.workers
    batch_size = args.batch_size or default_batch_size(device)
    options = dict(model=args.model, batch_size=batch_size, workers=workers, device=args.device, folds=5)

    warmup_seconds = device_warmup(args.model, device)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        cold = scan(path, cache_dir=cache, out=Path(out) / "cold", **options)
        cold_seconds = time.perf_counter() - start
        start = time.perf_counter()
        warm = scan(path, cache_dir=cache, out=Path(out) / "warm", **options)
        warm_seconds = time.perf_counter() - start
    bare_seconds = bare_forward(paths, args.model, cold.record["model"]["preprocessing"], batch_size, workers, device)

    n = len(paths)
    result = {
        "dataset": args.dataset,
        "images": n,
        "model": args.model,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "workers": workers,
        "batch_size": batch_size,
        "input_size": cold.record["model"]["preprocessing"]["input_size"],
        "bare_forward_images_per_second": round(n / bare_seconds, 2),
        "scan_cold_images_per_second": round(n / cold_seconds, 2),
        "scan_warm_images_per_second": round(n / warm_seconds, 2),
        "scan_cold_over_bare": round(bare_seconds / cold_seconds, 3),
        "seconds": {"bare_forward": round(bare_seconds, 2), "scan_cold": round(cold_seconds, 2), "scan_warm": round(warm_seconds, 2),
                    "device_warmup_before_both": round(warmup_seconds, 2)},
        "scan_cold_stages": cold.record["timings_seconds"],
        "scan_warm_stages": warm.record["timings_seconds"],
        "peak_memory_mib": {
            "main_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        },
        "labelfix": labelfix.__version__,
    }
    _print_table(result)
    RESULTS.mkdir(exist_ok=True)
    name = f"throughput-{args.dataset}{'-' + str(args.subset) if args.subset else ''}-{device.type}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


def _print_table(result: dict) -> None:
    print(f"\n{result['dataset']}: {result['images']} images, {result['model']} on {result['device']} "
          f"({result['torch_threads']} threads, {result['workers']} workers, batch {result['batch_size']})")
    rows = [
        ("bare backbone forward (decode + forward)", result["bare_forward_images_per_second"], result["seconds"]["bare_forward"]),
        ("labelfix scan, cold cache", result["scan_cold_images_per_second"], result["seconds"]["scan_cold"]),
        ("labelfix scan, warm cache", result["scan_warm_images_per_second"], result["seconds"]["scan_warm"]),
    ]
    print(f"{'':44}{'images/s':>10}{'seconds':>10}")
    for name, rate, seconds in rows:
        print(f"{name:44}{rate:>10.1f}{seconds:>10.1f}")
    print(f"scan (cold) / bare forward throughput: {result['scan_cold_over_bare']:.2f}x "
          f"(the process's first forward pass, {result['seconds']['device_warmup_before_both']} s, ran before both)")
    print("cold scan stages (s): " + ", ".join(f"{k} {v}" for k, v in result["scan_cold_stages"].items()))
    print(f"peak memory: {result['peak_memory_mib']['main_process']} MiB main, {result['peak_memory_mib']['largest_worker']} MiB largest worker")


if __name__ == "__main__":
    main()
