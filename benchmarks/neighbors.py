"""The exact nearest-neighbour search on real embeddings: labelfix's (half the similarity matrix, in blocks of torch
products) next to the whole search labelfix ran before, alternating, and whether the two find the same neighbours.
Before, on a CPU: faiss's `IndexFlatIP`; on CUDA: blocks of 2,048 rows against all rows, in torch.

    python benchmarks/neighbors.py --subset 10000 50000
    python benchmarks/neighbors.py --device cpu     # on a machine with CUDA too

The embeddings are lite0's at 160 px (the scan's input size for 32-px images) of the first N CIFAR-10N training
images, from the embedding cache the scans fill (computed into it the first time). Writes
benchmarks/results/neighbors-cifar10n[-cuda].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.backbones import load_backbone, with_input_size  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.devices import exact_fp32_matmul, resolve_device  # noqa: E402
from labelfix.features.cache import EmbeddingCache, default_cache_dir  # noqa: E402
from labelfix.features.embed import compute_features  # noqa: E402
from labelfix.features.neighbors import _drop_self, centred_unit_rows, exact_search  # noqa: E402
from labelfix.pipeline import NEIGHBORS_K  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def faiss_whole(unit: np.ndarray, k: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    similarities, indices = index.search(unit, k)
    return similarities, indices.astype(np.int64)


def torch_whole(unit: np.ndarray, k: int, device: torch.device, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    matrix = torch.as_tensor(unit, device=device)
    with exact_fp32_matmul():  # full fp32 products, as labelfix's search
        tops = [torch.topk(matrix[start : start + block] @ matrix.T, k, dim=1) for start in range(0, len(unit), block)]
    return (torch.cat([top.values for top in tops]).cpu().numpy(),
            torch.cat([top.indices for top in tops]).cpu().numpy().astype(np.int64))


def compare(unit: np.ndarray, repeats: int, device: torch.device) -> dict:
    """Seconds of each search (alternating, best of `repeats`) and how far their neighbours agree."""
    before = "torch_whole" if device.type == "cuda" else "faiss_whole"
    searches = {before: torch_whole if device.type == "cuda" else faiss_whole, "labelfix_half": exact_search}
    seconds: dict[str, list[float]] = {name: [] for name in searches}
    for _ in range(repeats):
        for name, search in searches.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            similarities, indices = search(unit, NEIGHBORS_K + 1, device)
            seconds[name].append(time.perf_counter() - start)
            found = _drop_self(indices, 1 - similarities, NEIGHBORS_K)
            if name == before:
                expected = found
    same = found.indices == expected.indices
    return {
        "images": len(unit), "dimensions": unit.shape[1], "before": before,
        "seconds": {name: round(min(values), 3) for name, values in seconds.items()},
        "all_seconds": {name: [round(value, 3) for value in values] for name, values in seconds.items()},
        "speedup": round(min(seconds[before]) / min(seconds["labelfix_half"]), 2),
        "same_neighbour_at_each_rank": round(float(same.mean()), 6),
        "rows_with_another_order": int((~same.all(axis=1)).sum()),
        "rows_with_other_neighbours": int(sum(set(a) != set(b) for a, b in zip(found.indices, expected.indices))),
        "max_distance_difference": float(np.abs(found.distances - expected.distances).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()
    device = resolve_device(args.device)

    label_file, _, _ = data.cifar10n("aggre", max(args.subset), 0)
    paths = read_dataset(label_file).paths
    with EmbeddingCache(default_cache_dir()) as cache:
        embeddings = compute_features(paths, with_input_size(load_backbone("lite0"), 160), cache).embeddings
    results = []
    print(f"{'images':>8}{'before, whole s':>17}{'labelfix, half s':>18}{'speed-up':>10}{'same at each rank':>19}"
          f"{'other sets':>12}")
    for n in args.subset:
        part = embeddings[:n]
        unit = centred_unit_rows(part)
        result = compare(unit, args.repeats, device)
        results.append(result)
        print(f"{n:>8}{result['seconds'][result['before']]:>17}{result['seconds']['labelfix_half']:>18}"
              f"{result['speedup']:>10}{result['same_neighbour_at_each_rank']:>19}"
              f"{result['rows_with_other_neighbours']:>12}")
    facts = {"dataset": "cifar10n", "backbone": "lite0", "input_size": 160, "k": NEIGHBORS_K, "device": device.type,
             "torch_threads": torch.get_num_threads(), "faiss_threads": faiss.omp_get_max_threads()}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"neighbors-cifar10n{'-cuda' if device.type == 'cuda' else ''}.json"
    out.write_text(json.dumps({**facts, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
