"""On-disk cache of what the decode pass computes per file: the embedding and the image statistics, and the
activations at the backbone's split point when a scan fine-tunes the stages after it.

Keyed by (backbone key [+ statistics version], file content hash), so a re-scan only decodes new or changed files.
Rows are committed batch by batch, so an interrupted scan resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decoded (
    backbone TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    statistics TEXT NOT NULL,
    PRIMARY KEY (backbone, content_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activations (
    backbone TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    shape TEXT NOT NULL,
    activation BLOB NOT NULL,
    PRIMARY KEY (backbone, content_hash)
);
"""


@dataclass(frozen=True)
class CachedImage:
    vector: np.ndarray  # (D,) float32
    statistics: dict[str, float]


def default_cache_dir() -> Path:
    """`$LABELFIX_CACHE_DIR`, else `$XDG_CACHE_HOME/labelfix`, else `~/.cache/labelfix`."""
    if os.environ.get("LABELFIX_CACHE_DIR"):
        return Path(os.environ["LABELFIX_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labelfix"


class EmbeddingCache:
    """One SQLite file under the cache folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "decoded.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def get_many(self, key: str, hashes: Sequence[str]) -> dict[str, CachedImage]:
        rows = self._select("SELECT content_hash, vector, statistics FROM decoded", key, hashes)
        return {h: CachedImage(np.frombuffer(blob, dtype=np.float32), json.loads(stats)) for h, blob, stats in rows}

    def get_activations(self, key: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """{content hash: float16 array} of the cached activations among `hashes`."""
        rows = self._select("SELECT content_hash, shape, activation FROM activations", key, hashes)
        return {h: np.frombuffer(blob, dtype=np.float16).reshape(json.loads(shape)) for h, shape, blob in rows}

    def put_activations(self, key: str, entries: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(key, h, json.dumps(list(a.shape)), np.ascontiguousarray(a, dtype=np.float16).tobytes()) for h, a in entries]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO activations VALUES (?, ?, ?, ?)", rows)

    def _select(self, query: str, key: str, hashes: Sequence[str]) -> list[tuple]:
        """Rows of `query` for `key` and `hashes`, asked 500 hashes at a time (SQLite's variable limit)."""
        unique = list(dict.fromkeys(hashes))
        rows = []
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(f"{query} WHERE backbone = ? AND content_hash IN ({marks})", [key, *chunk])
        return rows

    def put_many(self, key: str, entries: Iterable[tuple[str, CachedImage]]) -> None:
        rows = [
            (key, h, np.asarray(e.vector, dtype=np.float32).tobytes(), json.dumps(e.statistics))
            for h, e in entries
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO decoded VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
