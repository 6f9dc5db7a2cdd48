"""Peak memory of a scan against the number of images: it should grow linearly (embeddings, probabilities),
with no stage holding all decoded images.

    python benchmarks/memory.py                                  # cold scans of 1k-8k CIFAR-10N images
    python benchmarks/memory.py --warm-cache ~/.cache/labelfix   # also 6k-50k scans from a filled embedding cache

Each scan runs in its own process (peak RSS is per process): cold scans embed with an empty cache (decoding
and the forward pass), warm scans read the embeddings from the cache, so their peak is what cross-validation,
the checks, the store and the report need. Prints peak RSS, the fitted MiB per 1,000 images and the
intercept, and writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CHILD = """
import json, resource, sys, time
import labelfix
start = time.perf_counter()
result = labelfix.scan(sys.argv[1], out=sys.argv[2], cache_dir=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "workers_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "timings": result.record["timings_seconds"]}))
"""


def measure(size: int, cache_dir: str) -> dict:
    label_file, _, _ = data.cifar10n("aggre", size, 0)
    with tempfile.TemporaryDirectory() as out:
        completed = subprocess.run([sys.executable, "-c", CHILD, str(label_file), out, cache_dir],
                                   check=True, capture_output=True, text=True)
    return {"images": size, **json.loads(completed.stdout.strip().splitlines()[-1])}


def fit(rows: list[dict]) -> dict:
    sizes = np.array([r["images"] for r in rows], float)
    peaks = np.array([r["peak_rss_mib"] for r in rows])
    slope, intercept = np.polyfit(sizes, peaks, 1)
    residual = float(np.max(np.abs(peaks - (slope * sizes + intercept))))
    return {"mib_per_1000_images": round(1000 * float(slope), 1), "intercept_mib": round(float(intercept), 1),
            "largest_deviation_from_the_line_mib": round(residual, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", type=int, nargs="*", default=[1000, 2000, 4000, 8000], help="sizes; none to skip")
    parser.add_argument("--warm", type=int, nargs="+", default=[6250, 12500, 25000, 50000])
    parser.add_argument("--warm-cache", default=None, help="an embedding cache holding the CIFAR-10N images")
    args = parser.parse_args()
    measured = {}
    if args.cold:
        with tempfile.TemporaryDirectory() as empty:
            measured["cold"] = [measure(size, tempfile.mkdtemp(dir=empty)) for size in args.cold]
    if args.warm_cache:
        measured["warm"] = [measure(size, args.warm_cache) for size in args.warm]
    print(f"{'scan':>6} {'images':>8} {'peak RSS MiB':>13} {'workers MiB':>12} {'seconds':>8}")
    for kind, rows in list(measured.items()):
        for row in rows:
            print(f"{kind:>6} {row['images']:>8} {row['peak_rss_mib']:>13.0f} {row['workers_peak_rss_mib']:>12.0f} {row['seconds']:>8.1f}")
        measured[f"{kind}_fit"] = fit(rows)
        print(f"{kind:>6} fit: {measured[f'{kind}_fit']}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "memory.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}  # a run of one kind keeps the other's results
    path.write_text(json.dumps({**earlier, **measured}, indent=2) + "\n")


if __name__ == "__main__":
    main()
