"""Out-of-fold methods side by side on the same cached features of CIFAR-10N images: the embedding head, the
backbone's last stages fine-tuned per fold (at several epoch counts and batch sizes, and averaged over repeated
fold assignments), and blends with the neighbours' vote and
with each other.

    python benchmarks/crossval_methods.py --labels aggre --subset 10000 --image-size 128 --split blocks.5 --epochs 3 5

The embeddings and activations (image and mirror image) come from labelfix's cache, computed where missing.
Prints AUROC, flagged F1 and out-of-fold accuracy against the clean and the given labels per variant, with the
seconds each method took; writes benchmarks/results/crossval-methods-<labels>-<n>-<size>-<split>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from metrics import detection_report, print_variants  # noqa: E402

from labelfix.backbones import load_backbone, with_input_size  # noqa: E402
from labelfix.crossval.embedding import out_of_fold_probabilities  # noqa: E402
from labelfix.crossval.folds import assign_folds  # noqa: E402
from labelfix.crossval.last_stages import last_stages_out_of_fold_probabilities  # noqa: E402
from labelfix.crossval.neighbor_vote import neighbor_vote  # noqa: E402
from labelfix.crossval.probabilities import blend, normalized  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.features.cache import EmbeddingCache, default_cache_dir  # noqa: E402
from labelfix.features.embed import compute_features, with_mirror_views  # noqa: E402
from labelfix.features.neighbors import nearest_neighbors  # noqa: E402
from labelfix.issues.label import find_label_problems  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default="aggre", choices=["aggre", "worst", "random1", "random2", "random3"])
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--split", default="", help="module to fine-tune after (default: the backbone's split point)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[3])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128], help="training batch sizes to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="also average the last stages over this many fold assignments (repeated k-fold; each "
                             "repeat costs the folds' time again)")
    parser.add_argument("--unfolded", action="store_true",
                        help="also fine-tune with the batch norms kept apart from their convolutions (as before)")
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: labelfix's)")
    args = parser.parse_args()

    label_file, given, clean = data.cifar10n(args.labels, args.subset, args.seed)
    manifest = read_dataset(label_file)
    backbone = replace(with_input_size(load_backbone("lite0"), args.image_size), split_at=args.split)
    started = time.perf_counter()
    with EmbeddingCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir()) as cache:  # what the scan computes
        features = compute_features(manifest.paths, backbone, cache, with_activations=True)
        activations = with_mirror_views(features.activations, features.content_hashes, manifest.paths, backbone, cache)
    seconds = {"embed": round(time.perf_counter() - started, 1)}
    labels = manifest.label_indices()
    n_classes = len(manifest.classes)
    folds = assign_folds(labels, 5, args.seed)
    order = [list(manifest.classes).index(name) for name in data.cifar10n_labels()["classes"].astype(str)]

    vote = neighbor_vote(nearest_neighbors(features.embeddings, 10), labels, n_classes)
    started = time.perf_counter()
    head = out_of_fold_probabilities(features.embeddings, labels, folds, n_classes, seed=args.seed)
    seconds["embedding head"] = round(time.perf_counter() - started, 1)
    variants = {"embedding head": head, "embedding head + vote 0.3": normalized(blend(head, vote, 0.3))}
    for epochs, batch_size, fold_norms in [(epochs, batch_size, fold_norms) for epochs in args.epochs
                                           for batch_size in args.batch_sizes
                                           for fold_norms in [True] + [False] * args.unfolded]:
        started = time.perf_counter()
        tuned = last_stages_out_of_fold_probabilities(activations, labels, folds, n_classes, backbone, epochs=epochs,
                                                      learning_rate=args.lr, batch_size=batch_size,
                                                      fold_norms=fold_norms, seed=args.seed)
        name = (f"last stages {epochs} ep" + ("" if batch_size == 128 else f", batch {batch_size}")
                + ("" if fold_norms else ", norms unfolded"))
        seconds[name] = round(time.perf_counter() - started, 1)
        variants[name] = tuned
        total = tuned.copy()
        for repeat in range(1, args.repeats):  # another fold assignment, and the average over those so far
            started = time.perf_counter()
            total += last_stages_out_of_fold_probabilities(
                activations, labels, assign_folds(labels, 5, args.seed + repeat), n_classes, backbone, epochs=epochs,
                learning_rate=args.lr, batch_size=batch_size, fold_norms=fold_norms, seed=args.seed + repeat)
            seconds[f"{name}, repeat {repeat + 1}"] = round(time.perf_counter() - started, 1)
            averaged = normalized(total / (repeat + 1))
            variants[f"{name}, {repeat + 1} repeats averaged"] = averaged
            variants[f"{name}, {repeat + 1} repeats averaged + vote 0.3"] = normalized(blend(averaged, vote, 0.3))
        for weight in (0.15, 0.3):
            variants[f"{name} + vote {weight}"] = normalized(blend(tuned, vote, weight))
        variants[f"{name} + head 0.3"] = normalized(blend(tuned, head, 0.3))
        variants[f"{name} + head 0.3 + vote 0.15"] = normalized(blend(blend(tuned, head, 0.3), vote, 0.15))

    rows = {}
    for name, probabilities in variants.items():
        found = find_label_problems(labels, probabilities)
        rows[name] = detection_report(found.label_score, found.is_label_issue, probabilities[:, order], given, clean)
    report = {"benchmark": "crossval_methods", "labels": args.labels, "images": len(labels),
              "image_size": args.image_size, "split": backbone.split_module, "lr": args.lr, "seconds": seconds,
              "variants": rows}
    print_variants(f"CIFAR-10N '{args.labels}', {len(labels)} images at {args.image_size} px, fine-tuned after "
                   f"{backbone.split_module} (lr {args.lr:g})", rows, seconds)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"crossval-methods-{args.labels}-{args.subset or 'all'}-{args.image_size}-"
                      f"{backbone.split_module}-lr{args.lr:g}{'-unfolded' * args.unfolded}"
                      f"{f'-repeats{args.repeats}' if args.repeats > 1 else ''}"
                      f"{'' if args.batch_sizes == [128] else ''.join(f'-batch{size}' for size in args.batch_sizes)}.json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
