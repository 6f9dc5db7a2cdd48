"""The embed stage of a cold scan on the local engine and on a local Ray, in the same run, on the same images.

    python benchmarks/ray_engine.py --subset 1000
    python benchmarks/ray_engine.py --subset 1000 --ray-address auto   # an existing cluster instead

CIFAR-10N images (labels.jsonl), after the files are in the OS page cache. Each scan starts from an empty embedding
cache; the embed stage (hash, decode, embed, cache) is timed by the scan itself. Ray is started (or joined) before
the Ray scan and its start-up is timed apart; the Ray scan's embed stage still includes Ray Data starting its decode
workers and backbone replicas. Writes benchmarks/results/ray_engine.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
from labelfix import scan  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import default_workers  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def start_ray(address: str | None) -> float:
    """Seconds to start a local Ray on every core (or join the cluster at `address`)."""
    import ray

    start = time.perf_counter()
    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    return time.perf_counter() - start


def cold_embed_seconds(path: Path, out: Path, **options) -> tuple[float, dict]:
    """The embed stage's seconds of a scan with an empty cache, and the scan's counts."""
    with tempfile.TemporaryDirectory() as cache:
        result = scan(path, cache_dir=cache, out=out, **options)
    return result.record["timings_seconds"]["embed"], result.record["counts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=1000, help="this many CIFAR-10N images")
    parser.add_argument("--model", default="lite0")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster instead of starting a local one")
    args = parser.parse_args()

    path = data.cifar10n("aggre", args.subset)[0]
    for file in read_dataset(path).paths:  # the same page-cache state for both engines
        file.read_bytes()
    options = dict(model=args.model, batch_size=args.batch_size, folds=5)
    with tempfile.TemporaryDirectory() as out:
        local_seconds, counts = cold_embed_seconds(path, Path(out) / "local", **options)
        ray_start_seconds = start_ray(args.ray_address)
        ray_seconds, ray_counts = cold_embed_seconds(path, Path(out) / "ray", engine="ray", **options)
    assert counts["embedded"] == ray_counts["embedded"], (counts, ray_counts)

    import ray

    n = counts["embedded"]
    result = {
        "dataset": "cifar10n",
        "images": n,
        "model": args.model,
        "batch_size": args.batch_size,
        "cpu_cores": os.cpu_count(),
        "local": {"workers": default_workers(), "torch_threads": torch.get_num_threads()},
        "ray": {"address": args.ray_address or "local", "resources": ray.cluster_resources(), "version": ray.__version__},
        "embed_images_per_second": {"local": round(n / local_seconds, 2), "ray": round(n / ray_seconds, 2)},
        "embed_seconds": {"local": round(local_seconds, 2), "ray": round(ray_seconds, 2)},
        "ray_start_seconds": round(ray_start_seconds, 2),
        "ray_over_local_seconds": round(ray_seconds / local_seconds, 3),
        "labelfix": labelfix.__version__,
    }
    ray.shutdown()
    _print_table(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_engine.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS / 'ray_engine.json'}")


def _print_table(result: dict) -> None:
    print(f"\ncifar10n: {result['images']} images, {result['model']}, batch {result['batch_size']}, "
          f"{result['cpu_cores']} cores; cold cache, embed stage (hash + decode + embed + cache)")
    print(f"{'engine':36}{'images/s':>10}{'seconds':>10}")
    rate, seconds = result["embed_images_per_second"], result["embed_seconds"]
    print(f"{'local (DataLoader workers)':36}{rate['local']:>10.1f}{seconds['local']:>10.1f}")
    print(f"{'ray (' + result['ray']['address'] + ')':36}{rate['ray']:>10.1f}{seconds['ray']:>10.1f}")
    print(f"ray start-up (not in the above): {result['ray_start_seconds']:.1f} s; "
          f"ray / local time: {result['ray_over_local_seconds']:.2f}x")


if __name__ == "__main__":
    main()
