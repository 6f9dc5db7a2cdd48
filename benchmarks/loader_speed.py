"""Training and evaluation loaders (decode + transform, in the loader's workers): large JPEGs decoded reduced to what
each transform needs, next to every pixel decoded, in one run.

    python benchmarks/loader_speed.py                          # hymenoptera's photos 4x larger (2000 x 1500)
    python benchmarks/loader_speed.py --dataset hymenoptera    # 500-px photos: too small to decode reduced

What `labelfix train`, `scan --method finetune` and `labelfix predict` feed their network: `training_images` (the
training transform: random resized crop, flips) and `evaluation_images` (resize, centre crop), each timed over the
same files with and without reduced decoding, alternating, best of `--repeats`, after the files are in the OS page
cache. No network runs: this is the part of each step the workers must keep up with. Writes
benchmarks/results/loader_speed-<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.backbones import load_backbone, sized_data_config  # noqa: E402
from labelfix.config import AugmentConfig  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import default_workers  # noqa: E402
from labelfix.training.data import eval_loader, evaluation_images, training_images  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_dataset_arguments(parser, "large-photos", subset=2000)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path, facts, name = data.dataset_of(args)
    paths = read_dataset(path).paths
    for file in paths:
        file.read_bytes()
    workers = default_workers() if args.workers is None else args.workers
    config = sized_data_config(load_backbone("lite0").data_config, args.input_size)
    labels = np.zeros(len(paths), dtype=int)
    loaders = {"training": training_images(paths, labels, config, AugmentConfig()),
               "evaluation": evaluation_images(paths, labels, config)}
    seconds: dict[str, dict[str, list[float]]] = {kind: {"whole": [], "reduced": []} for kind in loaders}
    for _ in range(args.repeats):
        for kind, images in loaders.items():
            reduced_side = images.decode_at_least
            for decoding, side in (("whole", None), ("reduced", reduced_side)):
                images.decode_at_least = side
                batches = eval_loader(images, batch_size=args.batch_size, workers=workers)  # file order: the same work
                seconds[kind][decoding].append(data.seconds_to_iterate(batches))
            images.decode_at_least = reduced_side

    n = len(paths)
    rows = {kind: {"decode_at_least": images.decode_at_least,
                   **{f"{decoding}_images_per_second": round(n / min(times), 1) for decoding, times in seconds[kind].items()},
                   "speedup": round(min(seconds[kind]["whole"]) / min(seconds[kind]["reduced"]), 2),
                   "seconds": {decoding: [round(t, 2) for t in times] for decoding, times in seconds[kind].items()}}
            for kind, images in loaders.items()}
    result = {**facts, "images": n, "input_size": args.input_size, "workers": workers, "batch_size": args.batch_size,
              "repeats": args.repeats, "loaders": rows}
    print(f"{n} images of {args.dataset}, {args.input_size} px, {workers} workers (images/s, best of {args.repeats})")
    print(f"{'loader':12s} {'decode side':>12s} {'whole':>8s} {'reduced':>8s} {'speed-up':>9s}")
    for kind, row in rows.items():
        print(f"{kind:12s} {row['decode_at_least']!s:>12s} {row['whole_images_per_second']:8.1f} "
              f"{row['reduced_images_per_second']:8.1f} {row['speedup']:8.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"loader_speed-{name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
