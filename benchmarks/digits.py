"""The bundled digits example (`make demo`): planted label errors found, per scan method, side by side.

    python benchmarks/digits.py                                   # the default method and last_stages
    python benchmarks/digits.py --set crossval.head=mlp           # any config value, added to every method

Prints recall / precision of the flagged set, AUROC of the label score and the scan time for each method;
writes benchmarks/results/digits.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import labelfix
from labelfix.example import TRUTH_FILE, write_digits_example

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["embedding", "last_stages"])
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    overrides = {key: json.loads(value) if value[:1] in "0123456789[{tfn-" else value
                 for key, value in (item.split("=", 1) for item in args.set)}
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "digits"
        write_digits_example(root, noise=args.noise)
        with (root / TRUTH_FILE).open() as handle:
            planted = {row["path"] for row in csv.DictReader(handle)}
        for method in args.methods:
            config = labelfix.load_config(None, {**overrides, "crossval.method": method})
            started = time.perf_counter()
            result = labelfix.scan(root, config, out=Path(folder) / f"run-{method}")
            seconds = time.perf_counter() - started
            issues = result.issues
            truth = issues["path"].isin(planted).to_numpy()
            flagged = issues["is_label_issue"].to_numpy(bool)
            rows[method] = {
                "planted": len(planted), "flagged": int(flagged.sum()), "found": int((flagged & truth).sum()),
                "recall": round(float((flagged & truth).sum() / truth.sum()), 4),
                "precision": round(float((flagged & truth).sum() / max(flagged.sum(), 1)), 4),
                "auroc": round(float(roc_auc_score(truth, -np.nan_to_num(issues["label_score"].to_numpy(float), nan=1))), 4),
                "out_of_fold_accuracy": result.record["quality"]["out_of_fold_accuracy"],
                "seconds": round(seconds, 1), "stages_seconds": result.record["timings_seconds"],
            }
    report = {"benchmark": "digits", "noise": args.noise, "overrides": overrides, "methods": rows}
    print(f"\ndigits example, {args.noise:.0%} planted errors")
    print(f"{'method':14}{'found':>8}{'flagged':>9}{'recall':>8}{'precision':>11}{'AUROC':>8}{'agree':>7}{'seconds':>9}")
    for method, row in rows.items():
        print(f"{method:14}{row['found']:>8}{row['flagged']:>9}{row['recall']:>8.2f}{row['precision']:>11.2f}"
              f"{row['auroc']:>8.4f}{row['out_of_fold_accuracy']:>7.3f}{row['seconds']:>9.1f}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "digits.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
