"""The parts of a million-image scan that grow with N besides the network, each before / after side by side.

    python benchmarks/million_parts.py                      # 1,000,000 (needs scale.py's files and cache)
    python benchmarks/million_parts.py --images 125000 --parts rerank

- rerank: the exact re-ranking of the approximate neighbours' candidates (N rows of 1,712 float32, 21 candidates
  each, synthetic): numpy on gathered rows (before) against faiss's dot products by index (now).
- lookup: reading 50,000 random rows of scale.py's embedding cache, 500 hashes per query in the order given
  (before) and in key order (now).
- layout: the embedding cache's table as a WITHOUT ROWID table (before) and as a rowid table (now): filling it
  with 200,000 rows of 7 KB in random hash order, then reading 20,000 of them with the OS's file cache emptied.
- hashing: the hashing pass over scale.py's N files, every file read (before) and a re-scan that looks at the
  files' metadata only (now), with the OS's file cache emptied first (needs root) and full.

Writes benchmarks/results/million_parts-<N>.json (the parts not measured this time are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.features import neighbors  # noqa: E402
from labelfix.features.cache import CACHE_FILE, EmbeddingCache  # noqa: E402
from labelfix.features.embed import _in_chunks, _unchanged_contents  # noqa: E402
from labelfix.images.io import UnreadableImage, content_hash, read_bytes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SCALE = data.BENCH_CACHE / "scale"


def hash_files(paths: list[Path], cache: EmbeddingCache | None = None) -> list[tuple[str | None, str | None]]:
    """(content hash, error) per file in a pass of its own, as scans did before their decoding workers hashed what
    they read: with `cache`, only the files whose signature is unknown are read (what a re-scan's metadata pass,
    `embed._unchanged_contents`, saves), and their signatures are recorded."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        unchanged, signed = _unchanged_contents(pool, paths, cache) if cache is not None else ({}, {})
        unknown = [i for i in range(len(paths)) if i not in unchanged]
        read = dict(zip(unknown, _in_chunks(pool, _hash_file, [paths[i] for i in unknown])))
    if cache is not None:
        cache.record_contents((*signed[i], h) for i, (h, _) in read.items() if h and i in signed)
    return [read[i] if i in read else (unchanged[i], None) for i in range(len(paths))]


def _hash_file(path: Path) -> tuple[str | None, str | None]:
    try:
        return content_hash(read_bytes(path)), None
    except UnreadableImage as error:
        return None, str(error)


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return round(time.perf_counter() - start, 1), result


def rerank(n: int, dim: int = 1712, candidates: int = 21) -> dict:
    rng = np.random.default_rng(0)
    matrix = np.empty((n, dim), np.float32)
    for start in range(0, n, 50_000):
        matrix[start : start + 50_000] = rng.standard_normal((min(50_000, n - start), dim), dtype=np.float32) + 1
    others = rng.integers(0, n, (n, candidates))

    def run(products) -> np.ndarray:
        out = np.empty(others.shape, np.float32)
        for rows in neighbors._chunks(n):
            out[rows] = products(rows, others[rows])
        return out

    before, gathered = timed(lambda: run(lambda rows, ids: np.einsum("bd,bcd->bc", matrix[rows], matrix[ids])))
    after, by_index = timed(lambda: run(lambda rows, ids: neighbors._dot_products_by_index(matrix, rows, ids)))
    difference = float(np.abs(by_index - gathered).max() / np.abs(gathered).max())
    return {"numpy_gathered_seconds": before, "faiss_by_index_seconds": after, "max_relative_difference": difference}


def lookup(rows: int = 50_000) -> dict:
    with sqlite3.connect(SCALE / "cache" / CACHE_FILE) as db:
        table = "embeddings" if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'embeddings'").fetchone() \
            else "embedding_rows"  # the cache scale.py filled before or after the rowid table
        key = db.execute(f"SELECT backbone FROM {table} LIMIT 1").fetchone()[0]
        hashes = [h for (h,) in db.execute(f"SELECT content_hash FROM {table} WHERE backbone = ?", (key,))]
    wanted = random.Random(0).sample(hashes, rows)
    result = {"cache_rows": len(hashes), "rows_read": rows}
    with EmbeddingCache(SCALE / "cache") as cache:
        for name, read in (("given_order", lambda: _rows_in_given_order(cache, table, key, wanted)),
                           ("key_order", lambda: cache.iter_many(key, wanted))):
            read_before = _bytes_read()
            seconds, found = timed(lambda: sum(1 for _ in read()))
            result[name] = {"seconds": seconds, "gib_read": round((_bytes_read() - read_before) / 2**30, 2), "found": found}
    return result


def _rows_in_given_order(cache: EmbeddingCache, table: str, key: str, wanted: list[str]) -> Iterator[tuple]:
    """The cache's rows for `wanted`, 500 hashes per query in the order given (the lookup before key order)."""
    query = f"SELECT content_hash, vector, statistics, checksum FROM {table} WHERE backbone = ? AND content_hash IN"
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        yield from cache._db.execute(f"{query} ({','.join('?' * len(chunk))})", [key, *chunk])


def layout(rows: int = 200_000, looked_up: int = 20_000) -> dict:
    columns = ("backbone TEXT NOT NULL, content_hash TEXT NOT NULL, vector BLOB NOT NULL, statistics TEXT NOT NULL, "
               "checksum TEXT NOT NULL, PRIMARY KEY (backbone, content_hash)")
    vector = np.random.default_rng(0).standard_normal(1712).astype(np.float32).tobytes()
    statistics = json.dumps({"width": 24, "height": 24, "brightness": 0.5, "pixel_hash": "0" * 32, "format": "PNG"})
    hashes = [f"{i:032x}" for i in range(rows)]
    arriving = random.Random(0).sample(hashes, rows)  # a scan's rows come in no order of their hashes
    wanted = sorted(random.Random(1).sample(hashes, looked_up))
    result = {"rows": rows, "looked_up": looked_up}
    with tempfile.TemporaryDirectory() as folder:
        for name, suffix in (("without_rowid", " WITHOUT ROWID"), ("rowid", "")):
            path = Path(folder) / f"{name}.sqlite"
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"CREATE TABLE e ({columns}){suffix}")
                fill, _ = timed(lambda: [db.executemany("INSERT INTO e VALUES ('m', ?, ?, ?, 'c')", [
                    (h, vector, statistics) for h in arriving[start : start + 512]]) and db.commit()
                    for start in range(0, rows, 512)])
            db.close()
            _empty_file_cache()
            with sqlite3.connect(path) as db:
                read_before = _bytes_read()
                seconds, _ = timed(lambda: [db.execute(
                    f"SELECT vector FROM e WHERE backbone = 'm' AND content_hash IN ({','.join('?' * 500)})",
                    wanted[start : start + 500]).fetchall() for start in range(0, looked_up, 500)])
                kib = round((_bytes_read() - read_before) / looked_up / 1024, 1)
            db.close()
            result[name] = {"fill_seconds": fill, "lookup_seconds": seconds, "kib_read_per_row": kib,
                            "mib": path.stat().st_size // 2**20}
    return result


def _bytes_read() -> int:
    return int(Path("/proc/self/io").read_text().split()[1])  # rchar: bytes the process read, page cache or disk


def hashing(n: int) -> dict:
    paths = read_dataset(SCALE / f"labels-{n}.jsonl").paths
    result = {}
    with tempfile.TemporaryDirectory() as folder, EmbeddingCache(Path(folder)) as cache:
        for caches in ("emptied", "full"):
            if caches == "emptied" and not _empty_file_cache():
                continue
            result[f"read_every_file_{caches}"], plain = timed(lambda: hash_files(paths))
            if caches == "emptied":
                _empty_file_cache()
                result["first_scan_recording_emptied"], _ = timed(lambda: hash_files(paths, cache=cache))
                _empty_file_cache()
            result[f"rescan_metadata_only_{caches}"], again = timed(lambda: hash_files(paths, cache=cache))
            assert again == plain
    return result


def _empty_file_cache() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1_000_000)
    parts = ["rerank", "lookup", "layout", "hashing"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    args = parser.parse_args()
    output = RESULTS / f"million_parts-{args.images}.json"
    result = {**(json.loads(output.read_text()) if output.exists() else {}), "images": args.images}  # other parts kept
    for part in args.parts:
        if part in ("lookup", "hashing") and not (SCALE / "cache").exists():
            print(f"{part}: skipped, run benchmarks/scale.py --prepare-only --images {args.images} first")
            continue
        result[part] = {"rerank": lambda: rerank(args.images), "lookup": lookup, "layout": layout,
                        "hashing": lambda: hashing(args.images)}[part]()
        print(part, json.dumps(result[part]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
