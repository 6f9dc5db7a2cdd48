"""Does an SVM on the fine-tuned network's features beat its own softmax head? (seed 004: "SVM instead of
softmax"). Decides whether `labelfix train --head svm` earns a place.

    python benchmarks/svm_head.py [--cifar-images 3000 --epochs 4]

Per dataset: `labelfix train` fine-tunes lite0 (its validation split fixed by the seed); the trained network's
pooled pre-logit features of the training and validation images (plain eval transform) feed
- a linear SVM (sklearn LinearSVC, C chosen by 3-fold cross-validation on the training images),
- an RBF SVM (SVC, C chosen the same way),
- a logistic regression on the same features (the softmax head refitted, as a control),
and each one's validation accuracy is printed beside the network's own softmax head.
Datasets: hymenoptera (its train → val split) and a CIFAR-10 subset (clean labels, seeded 80/20 split).
Writes benchmarks/results/svm_head-<datasets>.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.config import load_train_config  # noqa: E402
from labelfix.images.transforms import eval_transform  # noqa: E402
from labelfix.training.checkpoint import load_checkpoint  # noqa: E402
from labelfix.training.data import LabeledImages, eval_loader  # noqa: E402
from labelfix.training.train import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
C_GRID = [0.001, 0.01, 0.1, 1.0]  # larger C: liblinear crawls on 1,280 standardised features without gaining


def pre_logit_features(checkpoint, files: list[Path], workers: int) -> np.ndarray:
    """(N, D) pooled features before the classifier, of every file (all readable here)."""
    batches = eval_loader(LabeledImages(files, np.arange(len(files)), eval_transform(checkpoint.data_config)),
                          batch_size=64, workers=workers)
    network, features = checkpoint.network.eval(), []
    with torch.inference_mode():
        for images, _ in batches:
            features.append(network.forward_head(network.forward_features(images), pre_logits=True).float().numpy())
    return np.concatenate(features)


def heads(train_x: np.ndarray, train_y: np.ndarray, seed: int) -> dict:
    """The candidate heads, each fitted on the training features with C chosen by 3-fold cross-validation."""
    def tuned(estimator, grid_key):
        return GridSearchCV(make_pipeline(StandardScaler(), estimator), {grid_key: C_GRID}, cv=3, n_jobs=1)

    candidates = {
        "linear_svm": tuned(LinearSVC(dual="auto", max_iter=2000, random_state=seed), "linearsvc__C"),
        "rbf_svm": tuned(SVC(kernel="rbf", random_state=seed), "svc__C"),
        "logistic": tuned(LogisticRegression(max_iter=2000), "logisticregression__C"),
    }
    return {name: model.fit(train_x, train_y) for name, model in candidates.items()}


def measure(name: str, dataset: Path, settings: dict, workers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        start = time.perf_counter()
        result = train(dataset, load_train_config(None, {**settings, "out": str(out), "seed": seed,
                                                         "data.workers": workers}))
        train_seconds = time.perf_counter() - start
        checkpoint = load_checkpoint(out / "checkpoint.pt")
        root = Path(json.loads((out / "run.json").read_text())["dataset"]["root"])
        with open(out / "split.csv", newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["trained"] == "1" or row["split"] == "val"]
        classes = checkpoint.classes
        part = {split: [row for row in rows if (row["split"] == "val") == (split == "val")] for split in ("train", "val")}
        x = {s: pre_logit_features(checkpoint, [root / r["path"] for r in part[s]], workers) for s in part}
        y = {s: np.array([classes.index(r["label"]) for r in part[s]]) for s in part}
        softmax = checkpoint.network.get_classifier()
        with torch.inference_mode():
            softmax_predicted = softmax(torch.from_numpy(x["val"])).argmax(1).numpy()
        row = {"dataset": name, "train_images": len(y["train"]), "val_images": len(y["val"]),
               "train_seconds": round(train_seconds), "network_val_accuracy": round(result.evaluation["accuracy"], 4),
               "softmax_head": round(float((softmax_predicted == y["val"]).mean()), 4)}
        start = time.perf_counter()
        for head, model in heads(x["train"], y["train"], seed).items():
            row[head] = round(float((model.predict(x["val"]) == y["val"]).mean()), 4)
            row[f"{head}_C"] = model.best_params_[next(iter(model.best_params_))]
        row["head_seconds"] = round(time.perf_counter() - start, 1)
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar-images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", choices=["hymenoptera", "cifar"], default=["hymenoptera", "cifar"])
    args = parser.parse_args()
    common = {"schedule.epochs": args.epochs, "schedule.freeze_epochs": 1, "schedule.lr": 3e-3}
    rows = []
    if "hymenoptera" in args.datasets:
        rows.append(measure("hymenoptera", data.hymenoptera(), {**common, "data.batch_size": 16}, args.workers, args.seed))
    if "cifar" in args.datasets:
        cifar, _, _ = data.cifar10n("clean", args.cifar_images, args.seed)
        rows.append(measure(f"cifar10-{args.cifar_images}", cifar, {**common, "model.image_size": 96}, args.workers,
                            args.seed))
    columns = ["softmax_head", "linear_svm", "rbf_svm", "logistic"]
    print(f"\n{'dataset':<18} {'train':>6} {'val':>5} " + " ".join(f"{c:>13}" for c in columns))
    for row in rows:
        print(f"{row['dataset']:<18} {row['train_images']:>6} {row['val_images']:>5} "
              + " ".join(f"{row[c]:>13.4f}" for c in columns))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"svm_head-{'-'.join(args.datasets)}.json"
    out.write_text(json.dumps({"epochs": args.epochs, "seed": args.seed, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
