"""CIFAR-10N: label-error detection on the 50,000 CIFAR-10 training images with real human label noise.

    python benchmarks/cifar10n.py --labels aggre               # the full 50k (slow on a CPU)
    python benchmarks/cifar10n.py --labels worst --subset 5000

Truth: noisy label != clean label. Prints AUROC / AUPRC of the label-quality score, precision / recall / F1
of the flagged set and of argmax != given, out-of-fold accuracy against the clean labels, time per stage,
next to the published reference points; writes benchmarks/results/cifar10n-<labels>-<n>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from metrics import detection_report, ranking_metrics  # noqa: E402

import labelfix  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# ../shared/data/README.md: 5-fold, ImageNet-pretrained, fully fine-tuned on a GPU; cleanlab self-confidence.
REFERENCES = {
    "aggre": [("ResNet-18 (fine-tuned)", 0.977, 0.882, 0.545, 0.674, 0.747), ("Swin-B (fine-tuned)", 0.996, 0.981, 0.624, 0.763, 0.929)],
    "worst": [("ResNet-18 (fine-tuned)", 0.963, 0.927, 0.784, 0.849, 0.884), ("Swin-B (fine-tuned)", 0.991, 0.981, 0.872, 0.924, 0.953)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default="aggre", choices=["aggre", "worst", "random1", "random2", "random3"])
    parser.add_argument("--subset", type=int, default=None, help="a seeded random subset of this many images")
    parser.add_argument("--model", default="lite0")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: labelfix's)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="any scan config value, e.g. --set crossval.regularization=10")
    parser.add_argument("--verbose", action="store_true", help="log each stage, fold and epoch with the time")
    args = parser.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    label_file, given, clean = data.cifar10n(args.labels, args.subset, args.seed)
    overrides = data.parse_sets(args.set)
    config = labelfix.load_config(None, {"embedding.model": args.model, "crossval.folds": args.folds, "seed": args.seed,
                                         "embedding.device": args.device, "embedding.workers": args.workers,
                                         "embedding.cache_dir": args.cache_dir, **overrides})
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = labelfix.scan(label_file, config, out=out)
        seconds = time.perf_counter() - start
    issues = result.issues.sort_index()
    classes = list(result.manifest.classes)
    order = [classes.index(name) for name in data.cifar10n_labels()["classes"].astype(str)]
    pred_probs = result.pred_probs[:, order]  # columns in CIFAR's class-index order
    report = {
        "benchmark": "cifar10n",
        "labels": args.labels,
        "images": len(issues),
        "config": result.record["config"],
        "device": result.record["model"]["device"],
        "input_size": result.record["model"]["preprocessing"]["input_size"][-1],
        "crossval": result.record["crossval"],
        **detection_report(issues["label_score"].to_numpy(float), issues["is_label_issue"].to_numpy(bool),
                           pred_probs, given, clean),
        "label_score_variants": label_score_variants(given, pred_probs, given != clean),
        "seconds": round(seconds, 1),
        "images_per_second": round(len(issues) / seconds, 2),
        "stages_seconds": result.record["timings_seconds"],
        "counts": result.record["counts"],
    }
    _print(report)
    RESULTS.mkdir(exist_ok=True)
    variant = "".join(_suffix(key, value) for key, value in overrides.items()) + (f"-folds{args.folds}" if args.folds != 5 else "")
    path = RESULTS / f"cifar10n-{args.labels}-{args.subset or 'all'}-{report['device'].split(':')[0]}{variant}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def label_score_variants(given, pred_probs, wrong) -> dict:
    """AUROC / AUPRC of cleanlab's label-quality scores on the scan's probabilities (labelfix ranks by the first)."""
    from cleanlab.rank import get_label_quality_scores

    variants = {"self_confidence": {}, "self_confidence_adjusted": {"adjust_pred_probs": True},
                "normalized_margin": {"method": "normalized_margin"},
                "normalized_margin_adjusted": {"method": "normalized_margin", "adjust_pred_probs": True}}
    return {name: ranking_metrics(get_label_quality_scores(given, pred_probs, **settings), wrong)
            for name, settings in variants.items()}


def _suffix(key: str, value) -> str:
    """File-name part of a --set: crossval.head=mlp -> "-mlp", embedding.flip_average=true -> "-flip_average"."""
    if isinstance(value, bool):
        return f"-{key.rsplit('.', 1)[-1]}" if value else f"-no_{key.rsplit('.', 1)[-1]}"
    return f"-{value}"


def _print(report: dict) -> None:
    print(f"\nCIFAR-10N '{report['labels']}': {report['images']} images, noise {report['noise_rate']:.1%}, "
          f"{report['config']['embedding']['model']} on {report['device']}")
    print(f"{'':30}{'AUROC':>7}{'AUPRC':>7}{'filter P':>10}{'R':>7}{'F1':>7}{'argmax F1':>11}{'acc(clean)':>12}")
    flagged, argmax = report["cleanlab_filter"], report["argmax_not_given"]
    print(f"{'labelfix (this run)':30}{report['auroc']:>7.3f}{report['auprc']:>7.3f}{flagged['precision']:>10.3f}"
          f"{flagged['recall']:>7.3f}{flagged['f1']:>7.3f}{argmax['f1']:>11.3f}{report['accuracy_vs_clean']:>12.3f}")
    for name, auroc, precision, recall, f1, argmax_f1 in REFERENCES.get(report["labels"], []):
        print(f"{name:30}{auroc:>7.3f}{'':>7}{precision:>10.3f}{recall:>7.3f}{f1:>7.3f}{argmax_f1:>11.3f}{'':>12}")
    print(f"time {report['seconds']} s ({report['images_per_second']} images/s); stages: "
          + ", ".join(f"{k} {v}" for k, v in report["stages_seconds"].items()))


if __name__ == "__main__":
    main()
