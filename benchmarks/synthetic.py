"""How detection degrades with the noise rate: symmetric and class-conditional noise planted into clean labels.

    python benchmarks/synthetic.py [--subset 10000] [--methods embedding auto]

Starts from CIFAR-10's clean labels (a seeded subset of the 50k; embeddings are reused from the cache of
earlier runs), plants symmetric noise (a uniformly random other class) and asymmetric noise (the standard
class-conditional flips truck→automobile, bird→airplane, deer→horse, cat↔dog) at 10/20/40%, scans each,
and prints AUROC / precision / recall / F1 and the seconds per setting and scan method. Writes
benchmarks/results/synthetic.json (10,000 images, method embedding), else synthetic-<n>-<methods>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from metrics import detection_report  # noqa: E402

import labelfix  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}  # CIFAR-10 indices: truck→automobile, bird→airplane, deer→horse, cat↔dog


def symmetric_noise(labels: np.ndarray, rate: float, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Each label replaced, with probability `rate`, by a uniformly chosen other class."""
    noisy = labels.copy()
    flip = rng.random(len(labels)) < rate
    noisy[flip] = (labels[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return noisy


def asymmetric_noise(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Labels of the source classes in ASYMMETRIC flipped to their target with probability `rate`."""
    noisy = labels.copy()
    for source, target in ASYMMETRIC.items():
        members = np.flatnonzero(labels == source)
        noisy[members[rng.random(len(members)) < rate]] = target
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=["embedding"], help="scan methods, side by side per setting")
    parser.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: labelfix's)")
    args = parser.parse_args()
    arrays = data.cifar10n_labels()
    classes = arrays["classes"].astype(str)
    label_file, _, clean = data.cifar10n("clean", args.subset, args.seed)
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for kind in ("symmetric", "asymmetric"):
            for rate in (0.1, 0.2, 0.4):
                noisy = symmetric_noise(clean, rate, 10, rng) if kind == "symmetric" else asymmetric_noise(clean, rate, rng)
                records = [json.loads(line) for line in label_file.read_text().splitlines()]
                noisy_file = label_file.parent / f"synthetic-{kind}-{rate}-{args.subset}-{args.seed}.jsonl"
                noisy_file.write_text("".join(json.dumps({**r, "label": str(classes[y])}) + "\n" for r, y in zip(records, noisy)))
                for method in args.methods:
                    started = time.perf_counter()
                    result = labelfix.scan(noisy_file, out=Path(work) / f"{kind}-{rate}-{method}", seed=args.seed,
                                           method=method, cache_dir=args.cache_dir)
                    issues = result.issues.sort_index()
                    order = [list(result.manifest.classes).index(name) for name in classes]
                    report = detection_report(issues["label_score"].to_numpy(float),
                                              issues["is_label_issue"].to_numpy(bool), result.pred_probs[:, order],
                                              noisy, clean)
                    rows.append({"noise": kind, "rate": rate, "method": method,
                                 "method_used": result.record["crossval"]["method"],
                                 "seconds": round(time.perf_counter() - started, 1), **report})
                    _print_row(rows[-1])
    RESULTS.mkdir(exist_ok=True)
    default = args.subset == 10000 and args.methods == ["embedding"]
    path = RESULTS / ("synthetic.json" if default else f"synthetic-{args.subset}-{'-'.join(args.methods)}.json")
    path.write_text(json.dumps({"subset": args.subset, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")


def _print_row(row: dict) -> None:
    f = row["cleanlab_filter"]
    print(f"{row['noise']:>11} {row['rate']:.0%} {row['method']:>9} ({row['method_used']}, {row['seconds']} s): actual {row['noise_rate']:.1%}  AUROC {row['auroc']:.3f}  AUPRC {row['auprc']:.3f}  "
          f"P {f['precision']:.3f}  R {f['recall']:.3f}  F1 {f['f1']:.3f}  acc(clean) {row['accuracy_vs_clean']:.3f}", flush=True)


if __name__ == "__main__":
    main()
