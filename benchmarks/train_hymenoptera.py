"""Fine-tuning accuracy and speed: hymenoptera (ants vs bees) train split → val split, lite0, CPU by default.

    python benchmarks/train_hymenoptera.py                 # fixed lr
    python benchmarks/train_hymenoptera.py --lr-find       # lr from the lr finder

Prints a table and writes benchmarks/results/train-hymenoptera-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.config import load_train_config  # noqa: E402
from labelfix.training.train import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--freeze-epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--backbone-lr-factor", type=float, default=0.1)
    parser.add_argument("--lr-find", action="store_true", help="use the lr finder's suggestion instead of --lr")
    parser.add_argument("--image-size", type=int, default=None, help="default: the model's (224 for lite0)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="result JSON [default: benchmarks/results/train-hymenoptera-<device>.json]")
    args = parser.parse_args()

    root = data.hymenoptera()
    with tempfile.TemporaryDirectory() as scratch:
        config = load_train_config(None, {
            "out": str(Path(scratch) / "run"), "seed": args.seed, "model.image_size": args.image_size,
            "data.batch_size": args.batch_size, "data.workers": args.workers, "schedule.epochs": args.epochs,
            "schedule.freeze_epochs": args.freeze_epochs, "schedule.backbone_lr_factor": args.backbone_lr_factor,
            "schedule.lr": None if args.lr_find else args.lr, "device": args.device,
        })
        start = time.perf_counter()
        result = train(root, config)
        seconds = time.perf_counter() - start
    record = result.record
    summary = {
        "dataset": "hymenoptera (train split -> val split)",
        "model": "lite0",
        "device": record["device"],
        "device_name": torch.cuda.get_device_name() if record["device"].startswith("cuda") else platform.machine(),
        "torch_threads": record["torch_threads"],
        "train_images": record["dataset"]["trained"],
        "val_images": result.evaluation["images"],
        "epochs": args.epochs,
        "freeze_epochs": args.freeze_epochs,
        "lr": record["lr"],
        "lr_from_finder": args.lr_find,
        "backbone_lr_factor": args.backbone_lr_factor,
        "batch_size": args.batch_size,
        "accuracy": round(result.evaluation["accuracy"], 4),
        "best_epoch": result.evaluation["checkpoint_epoch"],
        "per_epoch": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in result.metrics],
        "epoch_seconds": record["epoch_seconds"],
        "wall_seconds": round(seconds, 1),
        "train_images_per_second": record["images_per_second"],
        "versions": record["versions"],
    }
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"train-hymenoptera-{'cuda' if summary['device'].startswith('cuda') else 'cpu'}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'epoch':>5} {'phase':>9} {'train loss':>10} {'val loss':>9} {'val acc':>8} {'seconds':>8}")
    for row, epoch_seconds in zip(result.metrics, record["epoch_seconds"]):
        print(f"{row['epoch']:>5} {row['phase']:>9} {row['train_loss']:>10.4f} {row['val_loss']:>9.4f} "
              f"{row['val_accuracy']:>8.4f} {epoch_seconds:>8.1f}")
    print(f"accuracy {summary['accuracy']:.2%} (best epoch {summary['best_epoch']}) on {summary['val_images']} val images; "
          f"wall {seconds:.0f} s; {summary['train_images_per_second']} training images/s; lr {summary['lr']:.2e}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
