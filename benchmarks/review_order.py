"""Does the review order show the likeliest problems first? Planted and real label errors in its top K, next to
the top K by label score alone and the order before (flagged images first); near-duplicate group sizes.

    python benchmarks/review_order.py [--cifar-subset 10000]

Datasets: hymenoptera with the planted problems of `health.py` (duplicates, outliers, blur, darkness) plus 10
planted label errors; the digits example (5% planted errors); CIFAR-10N `aggre` (real human noise, truth:
noisy != clean). Writes benchmarks/results/review_order.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
import health  # noqa: E402

import labelfix  # noqa: E402
from labelfix.example import TRUTH_FILE, write_digits_example  # noqa: E402
from labelfix.features.neighbors import Neighbors  # noqa: E402
from labelfix.issues.duplicates import near_duplicate_groups  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def plant_label_errors(root: Path, count: int, seed: int, avoid: set[str]) -> set[str]:
    """Move `count` photos into the other class folder; returns their new paths (relative to `root`)."""
    rng = np.random.default_rng(seed + 1)
    photos = sorted(p for p in root.glob("*/*/*.jpg") if p.relative_to(root).as_posix() not in avoid)
    planted = set()
    for photo in rng.choice(photos, size=count, replace=False):
        other = {"ants": "bees", "bees": "ants"}[photo.parent.name]
        target = photo.parent.parent / other / f"flipped_{photo.name}"
        photo.rename(target)
        planted.add(target.relative_to(root).as_posix())
    return planted


def orders(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of `table` (issues.csv: the review order) in each order compared. The order before issue 19:
    images needing review first, each by the lowest of its label, conflicting-duplicate and outlier scores."""
    evidence = [f"{name}_score" for name in ("label", "conflicting_duplicate", "outlier") if f"{name}_score" in table]
    flagged_first = np.lexsort((np.arange(len(table)), table[evidence].min(axis=1, skipna=True).fillna(0.0).to_numpy(),
                                ~table["needs_review"].to_numpy(bool), ~table["is_unreadable_issue"].to_numpy(bool)))
    return {
        "review order": np.arange(len(table)),
        "label score alone": np.argsort(table["label_score"].fillna(-np.inf).to_numpy(), kind="stable"),
        "before: flagged first": flagged_first,
    }


def top_k(table: pd.DataFrame, truth: set[str], ks: list[int]) -> dict[str, dict[int, int]]:
    is_true = table["path"].isin(truth).to_numpy()
    return {name: {k: int(is_true[order[:k]].sum()) for k in ks} for name, order in orders(table).items()}


def group_sizes(run_dir: Path) -> dict[str, int]:
    """Largest near-duplicate group and images in groups: chained (connected components of the close pairs, as
    before) and now (complete linkage), over the neighbours the scan stored."""
    with sqlite3.connect(run_dir / "labelfix.db") as db:
        rows = db.execute("SELECT item_id, neighbor_id, distance FROM neighbors ORDER BY item_id, rank").fetchall()
        threshold = json.loads(db.execute("SELECT value FROM run WHERE key = 'config'").fetchone()[0])["checks"]["near_duplicate"]["threshold"]
    items = sorted({row[0] for row in rows})
    position = {item: i for i, item in enumerate(items)}
    k = len(rows) // len(items)
    indices = np.array([position[row[1]] for row in rows]).reshape(len(items), k)
    distances = np.array([row[2] for row in rows]).reshape(len(items), k)
    n = len(items)
    close = distances < threshold
    sources = np.repeat(np.arange(n), k)[close.ravel()]
    graph = coo_matrix((np.ones(len(sources)), (sources, indices.ravel()[close.ravel()])), shape=(n, n))
    _, chained = connected_components(graph, directed=False)
    counts = np.bincount(chained)
    now = near_duplicate_groups(Neighbors(indices=indices, distances=distances), threshold)
    now_counts = np.bincount(now[now >= 0]) if (now >= 0).any() else np.zeros(1, int)
    return {"largest_group_before": int(counts.max()), "images_in_groups_before": int((counts[chained] > 1).sum()),
            "largest_group_now": int(now_counts.max()), "images_in_groups_now": int((now >= 0).sum())}


def first_screen(table: pd.DataFrame, size: int = 48) -> dict[str, int]:
    """What the review page shows first: the first `size` images needing review, by issue."""
    queue = table[table["needs_review"]].head(size)
    return {"label_flags": int(queue["is_label_issue"].sum()), "shown": len(queue),
            "needing_review": int(table["needs_review"].sum()), "label_flags_total": int(table["is_label_issue"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar-subset", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        root = work / "hymenoptera"
        shutil.copytree(data.hymenoptera(), root)
        health_truth = health.plant(root, args.seed)
        planted = plant_label_errors(root, 10, args.seed, set().union(*health_truth.values()))
        result = labelfix.scan(root, out=work / "hymenoptera-run", seed=args.seed)
        report["hymenoptera + planted problems, 10 planted label errors"] = {
            "top_k": top_k(result.issues, planted, [5, 10, 15, 20, 30, 50]), "first_screen": first_screen(result.issues),
            "near_duplicate_groups": group_sizes(result.run_dir)}

        write_digits_example(work / "digits")
        truth = set(pd.read_csv(work / "digits" / TRUTH_FILE)["path"])
        result = labelfix.scan(work / "digits", out=work / "digits-run", seed=args.seed)
        report["digits example, 5% planted errors"] = {
            "top_k": top_k(result.issues, truth, [25, 50, 90, 150]), "first_screen": first_screen(result.issues),
            "near_duplicate_groups": group_sizes(result.run_dir)}

        path, given, clean = data.cifar10n("aggre", args.cifar_subset)
        result = labelfix.scan(path, out=work / "cifar-run", seed=args.seed)
        noisy = {item.path for item, g, c in zip(result.manifest.items, given, clean) if g != c}
        report[f"CIFAR-10N aggre, {args.cifar_subset} images (real noise)"] = {
            "top_k": top_k(result.issues, noisy, [100, 250, 500, 1000]), "first_screen": first_screen(result.issues),
            "near_duplicate_groups": group_sizes(result.run_dir)}
    for name, found in report.items():
        print(f"\n{name}: planted / real errors in the top K")
        ks = list(next(iter(found["top_k"].values())))
        print(f"{'order':24}" + "".join(f"{f'K={k}':>8}" for k in ks))
        for order, counts in found["top_k"].items():
            print(f"{order:24}" + "".join(f"{counts[k]:>8}" for k in ks))
        print(f"first screen of the review page: {found['first_screen']}")
        print(f"near-duplicate groups: {found['near_duplicate_groups']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review_order.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'review_order.json'}")


if __name__ == "__main__":
    main()
