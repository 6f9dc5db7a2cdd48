"""Pseudo-labelling on CIFAR-10 (clean labels as truth): how precise the kept pseudo-labels are at each asked
precision, how many are kept, and the validation accuracy of a model trained with them against one without.

    python benchmarks/pseudo_label.py [--labelled 5000 --pool 20000 --epochs 5 --image-size 96]

The labelled images train a first model (lite0, its validation split fixed by a seed); the pool is treated
as unlabelled; `pseudo-label` keeps what reaches the asked precision; a second model trains on the labelled
images plus the kept pseudo-labels (`--extra`) with the same validation images (`--split-file`), once for each
asked precision that keeps something.
Writes benchmarks/results/pseudo_label-<labelled>-<pool>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.config import load_train_config  # noqa: E402
from labelfix.pseudo import keep_precise, score_pool, write_pseudo_labels  # noqa: E402
from labelfix.training.predict import image_files  # noqa: E402
from labelfix.training.train import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labelled", type=int, default=5000)
    parser.add_argument("--pool", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--precisions", type=float, nargs="+", default=[0.9, 0.95, 0.98])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    label_file, _, _ = data.cifar10n("clean", args.labelled + args.pool, args.seed)
    lines = label_file.read_text().splitlines()
    truth = {json.loads(line)["image"].rsplit("/", 1)[-1]: json.loads(line)["label"] for line in lines}
    settings = {"model.image_size": args.image_size, "schedule.epochs": args.epochs, "schedule.freeze_epochs": 1,
                "schedule.lr": 3e-3, "seed": args.seed}
    report = {"labelled": args.labelled, "pool": args.pool, "epochs": args.epochs, "image_size": args.image_size}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        labelled = label_file.parent / f"labelled-{args.labelled}-{args.seed}.jsonl"
        labelled.write_text("\n".join(lines[: args.labelled]) + "\n")  # beside the images its paths name
        pool = work / "pool"
        pool.mkdir()
        for line in lines[args.labelled:]:
            source = label_file.parent / json.loads(line)["image"]
            os.link(source, pool / source.name)
        start = time.perf_counter()
        first = train(labelled, load_train_config(None, {**settings, "out": work / "first"}))
        report["first_model"] = {"val_accuracy": first.evaluation["accuracy"], "seconds": round(time.perf_counter() - start)}
        print(f"first model: {report['first_model']}", flush=True)
        start = time.perf_counter()
        scored = score_pool([work / "first" / "checkpoint.pt"], image_files([pool]), workers=2)
        report["pool_seconds"] = round(time.perf_counter() - start)  # the pool is predicted once for every precision
        report["precisions"] = {}
        for precision in args.precisions:
            start = time.perf_counter()
            result = keep_precise(scored, precision)
            rows = write_pseudo_labels(result, work / f"pseudo-{precision}")
            kept = [json.loads(line) for line in (work / f"pseudo-{precision}" / "labels.jsonl").read_text().splitlines()]
            right = sum(record["label"] == truth[Path(record["source"]).name] for record in kept)
            report["precisions"][precision] = {
                "kept": len(kept), "measured_precision": round(right / len(kept), 4) if kept else None,
                "classes_keeping_nothing": [row["class"] for row in rows if row["threshold"] is None],
                "seconds": round(time.perf_counter() - start),
            }
            print(f"asked precision {precision}: {report['precisions'][precision]}", flush=True)
        report["with_pseudo_labels"] = {}  # per asked precision that keeps something: the second model
        for precision in [p for p in args.precisions if report["precisions"][p]["kept"]]:
            start = time.perf_counter()
            second = train(labelled, load_train_config(None, {
                **settings, "out": work / f"second-{precision}", "data.split_file": work / "first" / "split.csv",
                "data.extra": [work / f"pseudo-{precision}" / "labels.jsonl"]}))
            report["with_pseudo_labels"][precision] = {"val_accuracy": second.evaluation["accuracy"],
                                                       "seconds": round(time.perf_counter() - start)}
            print(f"with the {precision} pseudo-labels: {report['with_pseudo_labels'][precision]}", flush=True)
        labelled.unlink()
    print(f"\n{args.labelled} labelled + {args.pool} unlabelled CIFAR-10 images, lite0 at {args.image_size} px, "
          f"{args.epochs} epochs")
    print(f"{'asked precision':>16} {'kept':>7} {'measured precision':>19}")
    for precision, row in report["precisions"].items():
        print(f"{precision:>16} {row['kept']:>7} {row['measured_precision']!s:>19}")
    print(f"val accuracy without pseudo-labels {report['first_model']['val_accuracy']:.4f}; with them: " + (
        ", ".join(f"{p} {row['val_accuracy']:.4f}" for p, row in report["with_pseudo_labels"].items())
        or "no asked precision kept any"))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pseudo_label-{args.labelled}-{args.pool}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
