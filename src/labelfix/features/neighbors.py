"""k nearest neighbours by cosine distance: faiss (exact below 100k images, HNSW above) or scikit-learn."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

EXACT_SEARCH_LIMIT = 100_000


@dataclass
class Neighbors:
    """For each of N embeddings, its k nearest others (self excluded), nearest first."""

    indices: np.ndarray  # (N, k) int64
    distances: np.ndarray  # (N, k) cosine distance in [0, 2]


def normalize(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)


def nearest_neighbors(embeddings: np.ndarray, k: int = 10) -> Neighbors:
    """k nearest neighbours of every row of `embeddings` (N, D) among the others.

    Distances are cosine distances after subtracting the dataset's mean embedding: what all images share
    (pooled CNN features are all positive) would otherwise make every pair look alike.
    """
    n = len(embeddings)
    k = max(1, min(k, n - 1))
    unit = np.ascontiguousarray(normalize(embeddings - embeddings.mean(axis=0)))
    try:
        similarities, indices = _search_faiss(unit, k + 1)
    except ImportError:
        similarities, indices = _search_sklearn(unit, k + 1)
    return _drop_self(indices, 1.0 - similarities, k)


def _search_faiss(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    dimension = unit.shape[1]
    if len(unit) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(dimension)
    else:
        index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, 2 * k)
        log.info("approximate nearest neighbours (HNSW) for %d images", len(unit))
    index.add(unit)
    similarities, indices = index.search(unit, k)
    return similarities, indices.astype(np.int64)


def _search_sklearn(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    distances, indices = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(unit).kneighbors(unit)
    return 1.0 - distances, indices


def _drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> Neighbors:
    """Remove each row's own index (not always first when exact duplicates tie) and keep k."""
    is_self = (indices == np.arange(len(indices))[:, None]) | (indices < 0)
    order = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(indices))[:, None]
    return Neighbors(indices=indices[rows, order], distances=np.clip(distances[rows, order], 0.0, 2.0))
