"""A scan of up to a million images from cached embeddings: time and peak memory per stage as N grows.

    python benchmarks/scale.py                                   # 62.5k, 125k, 250k, 500k, 1M images
    python benchmarks/scale.py --images 62500 125000             # some sizes

Makes N real image files (24x24 PNG and JPEG variants, so hashing and reading the manifest are real) and a
labels.jsonl per size (the first N images), computes each file's real image statistics, and fills the embedding
cache with synthetic vectors of the default backbone's size: a class-clustered Gaussian mixture (several modes
per class) whose given labels carry planted noise, so detection quality is still measured (AUROC of the label
score against the planted errors). Then runs the normal `labelfix scan` end to end in its own process, times
`labelfix apply` and the review page's first and a later page. Writes benchmarks/results/scale-<N>.json per size
and scale.json with the fitted growth (slope of log seconds / log peak RSS over log N) per stage.
Everything lives under --work (default ~/.cache/labelfix-benchmarks/scale); re-runs reuse the files and cache.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PER_FOLDER = 1000
CHUNK = 5000
LATENT = 32
SCAN = """
import json, resource, sys, time
import labelfix
start = time.perf_counter()
result = labelfix.scan(sys.argv[1], out=sys.argv[2], cache_dir=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "children_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def image_path(root: Path, i: int) -> Path:
    return root / "images" / f"{i // PER_FOLDER:04d}" / f"{i:07d}.{'png' if i % 2 else 'jpg'}"


def _write_images(job: tuple[str, int, int]) -> list[tuple[str, str]]:
    """Write images start..stop under root; (content hash, statistics JSON) of each, from the file as written."""
    from PIL import Image

    from labelfix.images.io import content_hash, open_image
    from labelfix.images.stats import image_statistics

    root, start, stop = Path(job[0]), job[1], job[2]
    rows = []
    for i in range(start, stop):
        path = image_path(root, i)
        if not path.exists():
            pixels = np.random.default_rng(i).integers(0, 256, (24, 24, 3), dtype=np.uint8)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            Image.fromarray(pixels).save(partial, format="PNG" if i % 2 else "JPEG", quality=95)
            os.replace(partial, path)
        raw = path.read_bytes()
        image, facts = open_image(raw)
        rows.append((content_hash(raw), json.dumps(image_statistics(image, facts))))
    return rows


def synthetic_vectors(truth: np.ndarray, dim: int, seed: int, start: int, separation: float = 0.4) -> np.ndarray:
    """Embedding-like vectors: a LATENT-dimensional Gaussian mixture (3 modes per class around its centre) seen
    through a fixed random linear map into `dim` dimensions, plus isotropic noise and a positive offset (pooled
    CNN features share a large common part), so neighbours and principal components mean something."""
    classes, modes = int(truth.max()) + 1, 3
    structure = np.random.default_rng(seed)
    centres = separation * structure.normal(size=(classes, 1, LATENT))
    centres = centres + 0.5 * separation * structure.normal(size=(classes, modes, LATENT))
    mixing = structure.normal(size=(LATENT, dim)).astype(np.float32) / np.sqrt(LATENT)
    rng = np.random.default_rng([seed, start])
    latent = centres[truth, rng.integers(0, modes, len(truth))] + rng.normal(size=(len(truth), LATENT))
    noise = 0.5 * rng.normal(size=(len(truth), dim)).astype(np.float32)
    return (1.0 + latent.astype(np.float32) @ mixing + noise).astype(np.float32)


def labels(n: int, classes: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(true, given) class per image: `noise` of the given labels are another class, chosen at random. Each draw has
    its own generator, so the first N images get the same labels whatever `n` is."""
    truth = np.random.default_rng([seed, 1]).integers(0, classes, n)
    flipped = np.random.default_rng([seed, 2]).random(n) < noise
    given = np.where(flipped, (truth + np.random.default_rng([seed, 3]).integers(1, classes, n)) % classes, truth)
    return truth, given


def prepare(work: Path, largest: int, classes: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Image files, their statistics and synthetic embeddings in the cache (done once per image)."""
    from labelfix.config import ScanConfig
    from labelfix.dataset import read_dataset
    from labelfix.features.cache import CachedImage, EmbeddingCache
    from labelfix.images.stats import STATS_VERSION
    from labelfix.pipeline import configured_backbone

    truth, given = labels(largest, classes, noise, seed)
    done_file = work / "prepared.json"
    done = json.loads(done_file.read_text())["images"] if done_file.exists() else 0
    if done >= largest:
        return truth, given
    names = [f"c{k}" for k in range(classes)]
    write_labels(work, largest, given, names)
    jobs = [(str(work), start, min(start + CHUNK, largest)) for start in range(done, largest, CHUNK)]
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count()) as pool, EmbeddingCache(work / "cache") as cache:
        for (_, start, stop), rows in zip(jobs, pool.imap(_write_images, jobs)):
            if start == jobs[0][1]:  # the first images exist now: the automatic input size (the key) needs them
                backbone = configured_backbone(ScanConfig(), read_dataset(work / f"labels-{largest}.jsonl"))
                key = f"{backbone.key}-stats{STATS_VERSION}"
            vectors = synthetic_vectors(truth[start:stop], backbone.feature_dim, seed, start)
            cache.put_many(key, ((h, CachedImage(v, {**json.loads(s), "prediction_entropy": 0.5}))
                                 for (h, s), v in zip(rows, vectors)))
            done_file.write_text(json.dumps({"images": stop}))
            print(f"\rprepared {stop:,} of {largest:,} images ({time.perf_counter() - started:.0f} s)", end="", flush=True)
    print()
    return truth, given


def write_labels(work: Path, n: int, given: np.ndarray, names: list[str]) -> Path:
    path = work / f"labels-{n}.jsonl"
    if not path.exists():
        lines = (json.dumps({"image": str(image_path(Path("."), i)), "label": names[given[i]]}) for i in range(n))
        partial = path.with_suffix(".part")
        partial.write_text("\n".join(lines) + "\n")
        os.replace(partial, path)
    return path


def measure(work: Path, n: int, truth: np.ndarray, given: np.ndarray, classes: int, seed: int,
            reuse: bool = False) -> dict:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    label_file = write_labels(work, n, given, [f"c{k}" for k in range(classes)])
    given = np.array([int(json.loads(line)["label"][1:]) for line in label_file.read_text().splitlines()])
    run = work / f"run-{n}"
    if reuse and (run / "run.json").is_file():
        stages = json.loads((run / "run.json").read_text())["timings_seconds"]
        outcome = (json.loads((run / "outcome.json").read_text()) if (run / "outcome.json").is_file()
                   else {"seconds": sum(stages.values()), "children_peak_rss_mib": float("nan")})
    else:
        completed = subprocess.run([sys.executable, "-c", SCAN, str(label_file), str(run), str(work / "cache")],
                                   capture_output=True, text=True)
        if completed.returncode:
            raise SystemExit(f"the scan of {n:,} images failed:\n{completed.stderr[-3000:]}")
        outcome = json.loads(completed.stdout.strip().splitlines()[-1])
        (run / "outcome.json").write_text(json.dumps(outcome))
    record = json.loads((run / "run.json").read_text())
    table = pd.read_csv(run / "issues.csv", usecols=["path", "label_score", "is_label_issue"])
    index = table["path"].str.extract(r"(\d+)\.\w+$")[0].astype(int).to_numpy()
    planted = (given[index] != truth[index])
    flagged = table["is_label_issue"].to_numpy(bool)
    result = {
        "images": n,
        "seconds": round(outcome["seconds"], 1),
        "peak_rss_mib": max(record["peak_rss_mib"].values()),
        "children_peak_rss_mib": round(outcome["children_peak_rss_mib"], 1),
        "stage_seconds": record["timings_seconds"],
        "stage_peak_rss_mib": record["peak_rss_mib"],
        "post_embedding_seconds": round(sum(s for name, s in record["timings_seconds"].items()
                                            if name not in ("read", "load_model", "embed")), 1),
        "auroc": round(float(roc_auc_score(planted, -table["label_score"].to_numpy())), 4),
        "flagged_precision": round(float(planted[flagged].mean()), 4),
        "flagged_recall": round(float(flagged[planted].mean()), 4),
        "neighbour_recall_at_10": neighbour_recall(run, n, truth, seed),
        "report_mb": round((run / "report.html").stat().st_size / 1e6, 2),
        "review_page_seconds": review_page_seconds(run),
        "apply_seconds": apply_seconds(run, work.with_name(f"{work.name}-clean") / str(n)),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"scale-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def neighbour_recall(run: Path, n: int, truth: np.ndarray, seed: int, queries: int = 200) -> float:
    """Share of the true 10 nearest neighbours (exact cosine after centring, over all N synthetic vectors) that the
    run's store holds, for a seeded sample of images."""
    import sqlite3

    dim = json.loads((run / "run.json").read_text())["model"]["feature_dim"]

    def chunks():
        for start in range(0, n, CHUNK):
            yield start, synthetic_vectors(truth[start : min(start + CHUNK, n)], dim, seed, start)

    mean = sum(vectors.sum(axis=0, dtype=np.float64) for _, vectors in chunks()) / n
    sample = np.sort(np.random.default_rng(seed).choice(n, queries, replace=False))
    unit = lambda rows: (rows - mean) / np.linalg.norm(rows - mean, axis=1, keepdims=True)  # noqa: E731
    query = unit(np.concatenate([vectors[sample[(sample >= start) & (sample < start + CHUNK)] - start]
                                 for start, vectors in chunks()]))
    similarities = np.concatenate([query @ unit(vectors).T for _, vectors in chunks()], axis=1)
    similarities[np.arange(queries), sample] = -np.inf
    exact = np.argsort(-similarities, axis=1)[:, :10]
    with sqlite3.connect(run / "labelfix.db") as db:
        stored = {}
        for item, neighbour in db.execute(
                f"SELECT item_id, neighbor_id FROM neighbors WHERE item_id IN ({','.join(map(str, sample))})"):
            stored.setdefault(item, set()).add(neighbour)
    return round(float(np.mean([len(stored.get(int(i), set()) & set(row)) / 10 for i, row in zip(sample, exact)])), 4)


def review_page_seconds(run: Path) -> dict:
    """Seconds of the review app's start, and of its first page and a page deep in the queue (the test client's
    request: the server's time, no network)."""
    from fastapi.testclient import TestClient

    from labelfix.review.app import create_app

    started = time.perf_counter()
    client = TestClient(create_app(run, warm_thumbnails=False, allow_hosts=["testserver"]))
    seconds = {"start": round(time.perf_counter() - started, 2)}
    for name, page in (("first_page", 1), ("page_1000", 1000)):
        times = []
        for _ in range(3):  # the median of three: one slow moment of a shared machine is not the page's time
            started = time.perf_counter()
            client.get("/", params={"page": page}).raise_for_status()
            times.append(time.perf_counter() - started)
        seconds[name] = round(float(np.median(times)), 3)
    return seconds


def apply_seconds(run: Path, to: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labelfix", "apply", str(run), "--to", str(to), "--overwrite"],
                   check=True, capture_output=True, text=True)
    return round(time.perf_counter() - started, 1)


def growth(results: list[dict]) -> dict:
    """Slope of log(seconds) and log(peak RSS above the smallest run's baseline) against log(images), per stage:
    1 is linear."""
    sizes = np.log([r["images"] for r in results])
    slopes = {}
    for stage in results[0]["stage_seconds"]:
        seconds = np.array([max(r["stage_seconds"][stage], 1e-3) for r in results])
        slopes[stage] = round(float(np.polyfit(sizes, np.log(seconds), 1)[0]), 2)
    slopes["post_embedding"] = round(float(np.polyfit(sizes, np.log([r["post_embedding_seconds"] for r in results]), 1)[0]), 2)
    slopes["peak_rss"] = round(float(np.polyfit(sizes, np.log([r["peak_rss_mib"] for r in results]), 1)[0]), 2)
    return slopes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs="+", default=[62_500, 125_000, 250_000, 500_000, 1_000_000])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=data.BENCH_CACHE / "scale")
    parser.add_argument("--prepare-only", action="store_true", help="make the files and fill the cache, scan nothing")
    parser.add_argument("--reuse-runs", action="store_true", help="measure the runs already scanned again, scan the rest")
    parser.add_argument("--summary-only", action="store_true", help="the table and growth of the sizes' saved results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.images)
    if args.summary_only:
        summarize([json.loads((RESULTS / f"scale-{n}.json").read_text()) for n in sizes])
        return
    truth, given = prepare(args.work, sizes[-1], args.classes, args.noise, args.seed)
    if args.prepare_only:
        return
    results = []
    for n in sizes:
        results.append(measure(args.work, n, truth, given, args.classes, args.seed, args.reuse_runs))
        print(json.dumps(results[-1]), flush=True)
    summarize(results)


def summarize(results: list[dict]) -> None:
    stages = list(results[0]["stage_seconds"])
    print(f"\n{'images':>9} " + " ".join(f"{s[:9]:>9}" for s in stages)
          + f" {'post-emb':>9} {'peak MiB':>9} {'AUROC':>6} {'recall':>6} {'report MB':>9} {'page s':>7} {'apply s':>8}")
    for r in results:
        pages = r["review_page_seconds"]
        print(f"{r['images']:>9,} " + " ".join(f"{r['stage_seconds'][s]:>9.1f}" for s in stages)
              + f" {r['post_embedding_seconds']:>9.1f} {r['peak_rss_mib']:>9.0f} {r['auroc']:>6.3f}"
              + f" {r['neighbour_recall_at_10']:>6.3f} {r['report_mb']:>9.1f}"
              + f" {max(pages['first_page'], pages['page_1000']):>7.2f} {r['apply_seconds']:>8.1f}")
    summary = {"results": results}
    if len(results) > 1:
        summary["growth_slope"] = growth(results)
        print(f"growth (slope of log time / log memory over log images; 1 = linear): {summary['growth_slope']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
