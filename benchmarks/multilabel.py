"""Multi-label label-issue detection on real images with known truth: 2x2 mosaics of CIFAR-10 images.

    python benchmarks/multilabel.py [--mosaics 10000 --noise 0.1 0.05 0.2 --folds 5 --seed 0]   # the default scan
    python benchmarks/multilabel.py --method embedding --cache-dir DIR          # the frozen head alone, cache kept
    python benchmarks/multilabel.py --noise 0.1 --method last_stages --set last_stages_epochs=2 --image-size 128

Each mosaic (64x64 px) tiles four CIFAR-10 training images; its true label set is the classes shown (clean
CIFAR labels). Noise, per rate r and seeded: in r of the mosaics one shown class is dropped (missing), in another
independent r one class not shown is added (extra). `labelfix scan` (default settings, a cold embedding cache for
the first rate) runs on each noisy set; from its out-of-fold probabilities the script measures, beside labelfix's
own ranking and flags:
- cleanlab's multi-label functions with their defaults (`get_label_quality_scores`, `find_label_issues`; labelfix's
  label score is the former with other settings, see `labelfix.issues.multilabel`),
- the plain "1 - max disagreement" score (the lowest per-class self-confidence of the image).
Image level: AUROC / AUPRC of the score for "this image's label set is wrong", flagged precision / recall.
Entry level: AUROC of each (image, class) self-confidence for the flipped entries, and how many of the entries
labelfix names missing / extra are the flipped ones. Writes benchmarks/results/multilabel-<mosaics>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cleanlab.multilabel_classification.filter import find_label_issues
from cleanlab.multilabel_classification.rank import get_label_quality_scores
from PIL import Image
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from metrics import flag_metrics, ranking_metrics  # noqa: E402

import labelfix  # noqa: E402
from labelfix.issues.multilabel import as_lists  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def mosaics(count: int, seed: int) -> tuple[Path, list[str], np.ndarray]:
    """The mosaic images (made once into the benchmark cache), the class names and the true (N, K) label sets."""
    label_file, _, clean = data.cifar10n("clean", None, 0)
    classes = [str(c) for c in data.cifar10n_labels()["classes"]]
    tiles = np.random.default_rng(seed).permutation(len(clean))[: 4 * count].reshape(count, 4)
    truth = np.zeros((count, len(classes)), dtype=np.int8)
    for row, four in enumerate(tiles):
        truth[row, clean[four]] = 1
    folder = data.BENCH_CACHE / f"multilabel-mosaics-{count}-{seed}"
    if not (folder / ".made").exists():
        (folder / "images").mkdir(parents=True, exist_ok=True)
        source = label_file.parent / "images"
        for row, four in enumerate(tiles):
            pieces = [np.asarray(Image.open(source / f"{i:05d}.jpg").convert("RGB")) for i in four]
            grid = np.concatenate([np.concatenate(pieces[:2], axis=1), np.concatenate(pieces[2:], axis=1)], axis=0)
            Image.fromarray(grid).save(folder / "images" / f"{row:05d}.png")
        (folder / ".made").touch()
    return folder, classes, truth


def with_noise(truth: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Given label sets: one shown class dropped in `rate` of the images, one absent class added in another `rate`."""
    rng = np.random.default_rng(seed)
    given = truth.copy()
    n = len(truth)
    for image in rng.choice(n, int(rate * n), replace=False):
        given[image, rng.choice(np.flatnonzero(truth[image]))] = 0
    for image in rng.choice(n, int(rate * n), replace=False):
        absent = np.flatnonzero(truth[image] == 0)
        if len(absent):
            given[image, rng.choice(absent)] = 1
    return given


def label_score_variants(labels: list[list[int]], pred_probs: np.ndarray, wrong_set: np.ndarray) -> dict:
    """Image AUROC / AUPRC of cleanlab's multi-label score with each of the two settings labelfix changes (and both:
    labelfix's own), on the same probabilities: what the choice of label score rests on."""
    adjusted, softmin = {"adjust_pred_probs": True}, {"aggregator_kwargs": {"method": "softmin"}}
    return {name: ranking_metrics(get_label_quality_scores(labels, pred_probs, **settings), wrong_set)
            for name, settings in [("defaults", {}), ("adjusted", adjusted), ("softmin", softmin),
                                   ("adjusted_softmin", {**adjusted, **softmin})]}


def entry_self_confidence(given: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """(N, K) probability of the given state of each entry: p where given, 1 - p where not."""
    return np.where(given == 1, pred_probs, 1 - pred_probs)


def measure(folder: Path, classes: list[str], truth: np.ndarray, rate: float, peak_weight: float | None, args,
            cache: Path) -> dict:
    given = with_noise(truth, rate, args.seed)
    label_file = folder / f"labels-{rate}-{args.seed}.jsonl"
    label_file.write_text("".join(json.dumps({"image": f"images/{i:05d}.png", "label": [classes[k] for k in
                                                                                       np.flatnonzero(row)]}) + "\n"
                                  for i, row in enumerate(given)))
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        options = {"method": args.method, **({"image_size": args.image_size} if args.image_size else {}),
                   **({"peak_weight": peak_weight} if peak_weight is not None else {}), **args.options}
        result = labelfix.scan(label_file, out=Path(scratch) / "run", folds=args.folds, seed=args.seed,
                               cache_dir=cache, task="multilabel", **options)
        seconds = time.perf_counter() - start
    order = [classes.index(name) for name in result.manifest.classes]  # the scan's columns, in our class order
    pred_probs = np.empty_like(result.pred_probs)
    pred_probs[:, order] = result.pred_probs
    np.savez(data.BENCH_CACHE / f"multilabel-probs-{rate}-{args.method}-{args.image_size or 'auto'}.npz",
             pred_probs=pred_probs, given=given, truth=truth)  # for comparing label scores without another scan
    table = result.issues.sort_index()
    flipped = given != truth
    wrong_set = flipped.any(axis=1)
    entry_confidence = entry_self_confidence(given, pred_probs)
    named = np.zeros_like(flipped)
    for row, (missing, extra) in enumerate(zip(table["missing_labels"], table["extra_labels"])):
        named[row, [classes.index(name) for name in (*missing, *extra)]] = True
    labels = as_lists(given)
    baseline_score = get_label_quality_scores(labels, pred_probs)
    baseline_flags = find_label_issues(labels, pred_probs)
    row = {
        "noise_rate": rate, "peak_weight": peak_weight, "images_with_wrong_set": int(wrong_set.sum()), "flipped_entries": int(flipped.sum()),
        "seconds": round(seconds, 1), "timings_seconds": result.record["timings_seconds"],
        "embedded": result.record["counts"]["embedded"],
        "crossval": result.record["crossval"],
        "micro_f1_vs_given": result.record["quality"]["out_of_fold_micro_f1"],
        "presence_accuracy_vs_given": result.record["quality"]["out_of_fold_presence_accuracy"],
        "presence_accuracy_vs_truth": round(float(((pred_probs >= 0.5) == truth.astype(bool)).mean()), 4),
        "labelfix": {**ranking_metrics(table["label_score"].to_numpy(float), wrong_set),
                     "flagged": flag_metrics(table["is_label_issue"].to_numpy(bool), wrong_set),
                     "entries_named": flag_metrics(named.ravel(), flipped.ravel())},
        "cleanlab_defaults": {**ranking_metrics(baseline_score, wrong_set),
                              "flagged": flag_metrics(np.asarray(baseline_flags, bool), wrong_set)},
        "one_minus_max_disagreement": ranking_metrics(entry_confidence.min(axis=1), wrong_set),
        "cleanlab_score_variants": label_score_variants(labels, pred_probs, wrong_set),
        "entry_auroc": round(float(roc_auc_score(flipped.ravel(), -entry_confidence.ravel())), 4),
        "mean_class_presence_auroc": round(float(np.mean([roc_auc_score(truth[:, k], pred_probs[:, k])
                                                          for k in range(len(classes))])), 4),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mosaics", type=int, default=10000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.05, 0.2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="auto", help="the scan's --method (auto, embedding, last_stages, finetune)")
    parser.add_argument("--image-size", type=int, default=None, help="the scan's input size [default: auto]")
    parser.add_argument("--peak-weights", type=float, nargs="+", default=[None],
                        help="crossval.peak_weight values to compare (--method last_stages) [default: the config's]")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any scan option, e.g. --set last_stages_epochs=3")
    parser.add_argument("--cache-dir", default=None, help="embedding cache to keep [default: a new one, cold]")
    args = parser.parse_args()
    args.options = data.parse_sets(args.set)
    start = time.perf_counter()
    folder, classes, truth = mosaics(args.mosaics, args.seed)
    print(f"{args.mosaics} mosaics ready in {time.perf_counter() - start:.0f} s; "
          f"{truth.sum(axis=1).mean():.2f} classes per mosaic", flush=True)
    with tempfile.TemporaryDirectory() as scratch:  # cold for the first rate, warm after
        cache = Path(args.cache_dir or scratch)
        rows = [measure(folder, classes, truth, rate, peak, args, cache)
                for rate in args.noise for peak in args.peak_weights]
    print(f"\n{args.mosaics} mosaics of 4 CIFAR-10 images, {args.folds} folds, --method {args.method}, image size "
          f"{args.image_size or 'auto'} (first row: cold cache)")
    print(f"{'noise':>6} {'peak':>5} {'ours AUROC':>10} {'AUPRC':>6} {'P':>6} {'R':>6} {'cleanlab AUROC':>14} {'P':>6} {'R':>6} "
          f"{'1-max AUROC':>11} {'entry AUROC':>11} {'seconds':>8}")
    for row in rows:
        ours, base = row["labelfix"], row["cleanlab_defaults"]
        peak = "-" if row["peak_weight"] is None else f"{row['peak_weight']:g}"
        print(f"{row['noise_rate']:>6} {peak:>5} {ours['auroc']:>10} {ours['auprc']:>6} {ours['flagged']['precision']:>6} "
              f"{ours['flagged']['recall']:>6} {base['auroc']:>14} {base['flagged']['precision']:>6} "
              f"{base['flagged']['recall']:>6} {row['one_minus_max_disagreement']['auroc']:>11} "
              f"{row['entry_auroc']:>11} {row['seconds']:>8}")
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.method == "auto" and not args.image_size else f"-{args.method}-{args.image_size or 'auto'}"
    suffix += "".join(f"-peak{peak:g}" for peak in args.peak_weights if peak is not None)
    suffix += "".join(f"-{key}{value}" for key, value in args.options.items())
    out = RESULTS / f"multilabel-{args.mosaics}{suffix}.json"
    out.write_text(json.dumps({"mosaics": args.mosaics, "folds": args.folds, "seed": args.seed, "method": args.method,
                               "image_size": args.image_size, "options": args.options, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
