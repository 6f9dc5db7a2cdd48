"""k nearest neighbours by cosine distance: exact up to 50k images (blocks of matrix products in torch, half the
similarity matrix), approximate above; on a CUDA device exact at any size that fits in its memory.

Above EXACT_SEARCH_LIMIT the candidates come from an HNSW graph (faiss) over the embeddings projected onto their
first REDUCED_DIM principal components (a million 1,712-wide vectors would not fit twice in
memory, and exact search grows with N²); the candidates are then re-ranked by their exact cosine distance on the
full embeddings, so every distance reported is exact and only which neighbours are found is approximate.
`benchmarks/scale.py` measures that recall. On 100,000 synthetic images (recall@10 against exact search, 200
images): HNSW 0.97 in 51 s, an IVF index (4·√N lists, 64 probed) 0.83 in 41 s, and IVF's all-pairs search grows
as N^1.5 (every query scans its probed lists: over 18 minutes at a million), HNSW's as N log N.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelfix.devices import exact_fp32_matmul

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EXACT_SEARCH_LIMIT = 50_000  # exact search on 50k images already took half of a cached scan (48 of 95 s)
REDUCED_DIM = 128  # principal components the approximate search uses
PCA_SAMPLE = 50_000  # rows the components are fitted on
CHUNK = 1024  # rows projected or re-ranked at a time
CANDIDATES = 2  # the approximate search returns CANDIDATES × k candidates per image for the exact re-ranking
HNSW_LINKS = 32  # links per node of the HNSW graph
HNSW_SEARCH = 64  # candidates kept while searching it (efSearch)
CPU_BLOCK = 2048  # rows and columns of one block of similarities in the exact search (16 MB)
CUDA_BLOCK = 8192  # the same on a CUDA device (256 MB): fewer, larger products and kernel launches


@dataclass
class Neighbors:
    """For each of N embeddings, its k nearest others (self excluded), nearest first."""

    indices: np.ndarray  # (N, k) int64
    distances: np.ndarray  # (N, k) cosine distance in [0, 2]


def normalize(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)


def centred_unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """`normalize(embeddings - their mean)` as one new float32 matrix: the rows scaled in place, a chunk at a time,
    instead of three more copies of the whole (50,000 × 1,712: 340 MB each)."""
    unit = embeddings - embeddings.mean(axis=0)
    for rows in _chunks(len(unit)):
        unit[rows] /= np.maximum(np.linalg.norm(unit[rows], axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(unit, dtype=np.float32)


def nearest_neighbors(embeddings: np.ndarray, k: int = 10, device: torch.device | None = None) -> Neighbors:
    """k nearest neighbours of every row of `embeddings` (N, D) among the others; on a CUDA `device`, found there.

    Distances are cosine distances after subtracting the dataset's mean embedding: what all images share
    (pooled CNN features are all positive) would otherwise make every pair look alike.
    """
    import torch

    n = len(embeddings)
    k = max(1, min(k, n - 1))
    on_gpu = device is not None and device.type == "cuda" and _fits_on(device, embeddings)
    if n > EXACT_SEARCH_LIMIT and not on_gpu:
        return _approximate(embeddings, k)
    unit = centred_unit_rows(embeddings)
    similarities, indices = exact_search(unit, k + 1, device if on_gpu else torch.device("cpu"))
    return _drop_self(indices, 1.0 - similarities, k)


def exact_search(unit: np.ndarray, k: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search of every row of `unit` among all rows, on `device`: (N, k) similarities and
    indices, largest first, in full fp32 products.

    The similarity matrix is symmetric, so only its blocks on and above the diagonal are computed, a square of
    `_block_side` rows at a time: each block gives its rows their best k columns and, transposed, its columns
    their best k rows, which are merged into every row's running best k: half the products of a whole search, and
    sim(a, b) is sim(b, a) to the bit. On 2 cores, lite0's embeddings of CIFAR-10N (`benchmarks/neighbors.py`):
    10,000 in 1.1 s and 50,000 in 24 s, against 1.4 s and 35 s for faiss's whole search (`IndexFlatIP`), with the
    same neighbours (the order of two near-equal ones swapped in 2 of 50,000 rows)."""
    import torch

    matrix = torch.as_tensor(unit, device=device)
    n, side = len(matrix), _block_side(device)
    best = torch.full((n, k), -torch.inf, device=device)
    best_indices = torch.full((n, k), -1, dtype=torch.int64, device=device)  # -1: none (as faiss)

    def keep_best(rows: slice, similarities: torch.Tensor, first_column: int) -> None:
        top = torch.topk(similarities, min(k, similarities.shape[1]), dim=1)
        merged = torch.topk(torch.cat([best[rows], top.values], dim=1), k, dim=1)
        candidates = torch.cat([best_indices[rows], top.indices + first_column], dim=1)
        best[rows], best_indices[rows] = merged.values, candidates.gather(1, merged.indices)

    blocks = [slice(start, min(start + side, n)) for start in range(0, n, side)]
    with torch.inference_mode(), exact_fp32_matmul():
        for i, rows in enumerate(blocks):
            for columns in blocks[i:]:
                similarities = matrix[rows] @ matrix[columns].T
                if columns == rows:  # its lower triangle from its upper one: the product need not be symmetric
                    similarities = similarities.triu() + similarities.triu(1).T
                else:
                    keep_best(columns, similarities.T.contiguous(), rows.start)
                keep_best(rows, similarities, columns.start)
    return best.cpu().numpy(), best_indices.cpu().numpy()


def _block_side(device: torch.device) -> int:
    return CUDA_BLOCK if device.type == "cuda" else CPU_BLOCK


def _fits_on(device: torch.device, embeddings: np.ndarray) -> bool:
    """Whether the embeddings and two blocks of similarities fit in a third of the device's free memory."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return 4 * (embeddings.size + 2 * _block_side(device) ** 2) < free / 3


class _Centred:
    """Rows of an (N, D) matrix, centred on its mean and scaled to unit length on demand (never all at once)."""

    def __init__(self, embeddings: np.ndarray) -> None:
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)  # as faiss reads it (no copy if it is)
        self.mean = self.embeddings.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.norms = np.concatenate([np.linalg.norm(self.embeddings[s] - self.mean, axis=1)
                                     for s in _chunks(len(embeddings))])
        self.norms = np.maximum(self.norms, 1e-12).astype(np.float32)
        self.dot_mean: np.ndarray | None = None  # (N,) m·x, when first needed

    def rows(self, which) -> np.ndarray:
        """Unit rows for `which` (a slice or an integer array of any shape)."""
        return (self.embeddings[which] - self.mean) / self.norms[which][..., None]

    def similarities(self, rows: slice, others: np.ndarray) -> np.ndarray:
        """(b, c) cosine similarity of each of the b `rows` with its c `others` (item indices), centred: from the raw
        dot products, (x - m)·(y - m) = x·y - m·x - m·y + m·m, so each other row is read once, where it is."""
        if self.dot_mean is None:
            self.dot_mean = np.concatenate([self.embeddings[s] @ self.mean for s in _chunks(len(self.embeddings))])
        raw = _dot_products_by_index(self.embeddings, rows, others).astype(np.float64)
        mean_squared = float(self.mean.astype(np.float64) @ self.mean)
        centred = raw - self.dot_mean[rows, None] - self.dot_mean[others] + mean_squared
        return (centred / (self.norms[rows, None] * self.norms[others])).astype(np.float32)


def _dot_products_by_index(matrix: np.ndarray, rows: slice, others: np.ndarray) -> np.ndarray:
    """(b, c) float32: each of the b `rows` of `matrix` (C-contiguous float32) dotted with its c rows `others`.
    faiss reads the others in place, on all cores: gathering them into a (b, c, D) block for numpy first took
    6.5 of the 16 minutes of a million images' neighbours (alone: 60.7 s; by index 12.9 s)."""
    import faiss

    queries = np.ascontiguousarray(matrix[rows])
    others = np.ascontiguousarray(others, dtype=np.int64)
    products = np.empty(others.shape, dtype=np.float32)
    faiss.fvec_inner_products_by_idx(faiss.swig_ptr(products), faiss.swig_ptr(queries), faiss.swig_ptr(matrix),
                                     faiss.swig_ptr(others), matrix.shape[1], len(queries), others.shape[1])
    return products


def _approximate(embeddings: np.ndarray, k: int) -> Neighbors:
    """Candidates from an HNSW graph over the principal components, re-ranked by exact cosine distance."""
    import faiss

    n = len(embeddings)
    centred = _Centred(embeddings)
    components = _principal_components(centred, min(REDUCED_DIM, embeddings.shape[1]))
    reduced = np.concatenate([normalize(centred.rows(s) @ components) for s in _chunks(n)])
    index = faiss.IndexHNSWFlat(reduced.shape[1], HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(reduced)
    index.hnsw.efSearch = max(HNSW_SEARCH, CANDIDATES * k + 1)
    log.info("approximate nearest neighbours for %d images (HNSW on %d principal components)", n, reduced.shape[1])
    _, candidates = index.search(reduced, CANDIDATES * k + 1)
    del reduced
    similarities = np.empty(candidates.shape, dtype=np.float32)
    for s in _chunks(n):
        similarities[s] = centred.similarities(s, np.maximum(candidates[s], 0))
    similarities[candidates < 0] = -np.inf
    order = np.argsort(-similarities, axis=1, kind="stable")
    rows = np.arange(n)[:, None]
    return _drop_self(candidates[rows, order].astype(np.int64), 1.0 - similarities[rows, order], k)


def _principal_components(centred: _Centred, dimensions: int) -> np.ndarray:
    """(D, dimensions): the leading eigenvectors of the unit rows' covariance, from a seeded sample of rows."""
    n = len(centred.embeddings)
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, PCA_SAMPLE), replace=False))
    rows = centred.rows(sample).astype(np.float64)
    rows -= rows.mean(axis=0)
    _, vectors = np.linalg.eigh(rows.T @ rows)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dimensions], dtype=np.float32)


def _chunks(n: int) -> list[slice]:
    return [slice(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]


def _drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> Neighbors:
    """Remove each row's own index (not always first when exact duplicates tie) and keep k."""
    is_self = (indices == np.arange(len(indices))[:, None]) | (indices < 0)
    order = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(indices))[:, None]
    return Neighbors(indices=indices[rows, order], distances=np.clip(distances[rows, order], 0.0, 2.0))
