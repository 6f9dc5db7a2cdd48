"""Health, duplicate and outlier detection on hymenoptera with planted problems, and what the checks cost.

    python benchmarks/health.py

Plants into a copy of hymenoptera: exact duplicates (the same pixels re-encoded as PNG), near duplicates
(resized + JPEG re-encoded copies), some of each filed under the other class (conflicting duplicates),
out-of-domain images (handwritten digits), blurred and darkened images (replacing their originals).
Prints precision / recall per issue type and the scan time with and without the checks; writes
benchmarks/results/health.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OTHER = {"ants": "bees", "bees": "ants"}


def plant(root: Path, seed: int = 0) -> dict[str, set[str]]:
    """Modify the copy at `root`; return {issue type: paths (relative) that truly have it}."""
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in root.glob("train/*/*.jpg"))
    chosen = [photos[i] for i in rng.choice(len(photos), size=40, replace=False)]
    exact_sources, near_sources, blur_targets, dark_targets = chosen[:10], chosen[10:20], chosen[20:25], chosen[25:30]
    truth: dict[str, set[str]] = {k: set() for k in ("exact_duplicate", "near_duplicate", "conflicting_duplicate",
                                                     "outlier", "blurry", "dark")}

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    for i, source in enumerate(exact_sources):
        label = source.parent.name if i % 3 else OTHER[source.parent.name]  # every third one conflicts
        copy = root / "train" / label / f"exact_copy_{i}.png"
        Image.open(source).convert("RGB").save(copy)
        truth["exact_duplicate"] |= {rel(source), rel(copy)}
        if label != source.parent.name:
            truth["conflicting_duplicate"] |= {rel(source), rel(copy)}
    for i, source in enumerate(near_sources):
        label = source.parent.name if i % 2 else OTHER[source.parent.name]  # every second one conflicts
        copy = root / "train" / label / f"near_copy_{i}.jpg"
        image = Image.open(source).convert("RGB")
        scale = rng.uniform(0.5, 0.8)
        image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BICUBIC).save(copy, quality=70)
        truth["near_duplicate"] |= {rel(source), rel(copy)}
        if label != source.parent.name:
            truth["conflicting_duplicate"] |= {rel(source), rel(copy)}
    truth["near_duplicate"] |= truth["exact_duplicate"]
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in range(6):
        image = Image.fromarray((255 - digits.images[i * 7] * 255 / 16).astype(np.uint8)).resize((224, 224))
        target = root / "train" / ("ants", "bees")[i % 2] / f"digit_{i}.png"
        image.convert("RGB").save(target)
        truth["outlier"].add(rel(target))
    truth["outlier"].add("train/ants/imageNotFound.gif")  # the placeholder graphic found in the wild
    truth["blurry"] |= {p for p in truth["outlier"] if "digit_" in p}  # upscaled from 8x8 pixels: truly blurry
    for target in blur_targets:
        Image.open(target).convert("RGB").filter(ImageFilter.GaussianBlur(4)).save(target, quality=90)
        truth["blurry"].add(rel(target))
    for target in dark_targets:
        ImageEnhance.Brightness(Image.open(target).convert("RGB")).enhance(0.08).save(target, quality=90)
        truth["dark"].add(rel(target))
    return truth


def precision_recall(flagged: set[str], truth: set[str]) -> dict[str, float]:
    found = len(flagged & truth)
    return {
        "truth": len(truth), "flagged": len(flagged), "found": found,
        "precision": round(found / len(flagged), 3) if flagged else float("nan"),
        "recall": round(found / len(truth), 3) if truth else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="cold scans of each kind (the fastest counts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "hymenoptera_planted"
        shutil.copytree(data.hymenoptera(), root)
        truth = plant(root, args.seed)
        for file in root.rglob("*"):
            if file.is_file():
                file.read_bytes()
        timings: dict[str, float] = {}
        for repeat in range(args.repeats):  # alternating cold scans; the best of each is kept
            for name, enabled in (("without_checks", False), ("with_checks", True)):
                config = labelfix.load_config(None, {"checks.enabled": enabled})
                cache = Path(work) / f"cache-{name}-{repeat}"
                start = time.perf_counter()
                result = labelfix.scan(root, config, out=Path(work) / name, cache_dir=cache, seed=args.seed)
                timings[name] = round(min(timings.get(name, float("inf")), time.perf_counter() - start), 2)
        table = result.issues
        scores = {
            issue: precision_recall(set(table.loc[table[f"is_{issue}_issue"], "path"]), paths)
            for issue, paths in truth.items()
        }
        distances = _distance_summary(table, truth)
    report = {
        "dataset": "hymenoptera + planted problems",
        "images": len(table),
        "per_type": scores,
        "scan_seconds": timings,
        "checks_cost_ratio": round(timings["with_checks"] / timings["without_checks"], 3),
        "thresholds": result.record["config"]["checks"],
        "distances": distances,
    }
    _print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "health.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'health.json'}")


def _distance_summary(table, truth) -> dict:
    """Where the planted pairs and the rest fall on the near-duplicate and outlier scores (for choosing thresholds)."""
    near = table["path"].isin(truth["near_duplicate"])
    outliers = table["path"].isin(truth["outlier"])
    return {
        "near_duplicate_score_planted_max": round(float(table.loc[near, "near_duplicate_score"].max()), 3),
        "near_duplicate_score_others_min": round(float(table.loc[~near, "near_duplicate_score"].min()), 3),
        "outlier_score_planted_max": round(float(table.loc[outliers, "outlier_score"].max()), 3),
        "outlier_score_others_min": round(float(table.loc[~outliers, "outlier_score"].min()), 3),
    }


def _print(report: dict) -> None:
    print(f"\n{report['dataset']}: {report['images']} images")
    print(f"{'issue type':24}{'planted':>9}{'flagged':>9}{'found':>7}{'precision':>11}{'recall':>8}")
    for issue, s in report["per_type"].items():
        print(f"{issue:24}{s['truth']:>9}{s['flagged']:>9}{s['found']:>7}{s['precision']:>11}{s['recall']:>8}")
    t = report["scan_seconds"]
    print(f"cold scan without checks {t['without_checks']} s, with checks {t['with_checks']} s "
          f"(best of alternating runs): ratio {report['checks_cost_ratio']}")
    print("score separation:", report["distances"])


if __name__ == "__main__":
    main()
