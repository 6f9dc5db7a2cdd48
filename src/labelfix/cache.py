"""On-disk embedding cache keyed by (backbone key, file content hash): re-scans embed only new files.

Rows are committed batch by batch, so an interrupted scan resumes where it stopped.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    backbone TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (backbone, content_hash)
) WITHOUT ROWID
"""


def default_cache_dir() -> Path:
    """`$LABELFIX_CACHE_DIR`, else `$XDG_CACHE_HOME/labelfix`, else `~/.cache/labelfix`."""
    if os.environ.get("LABELFIX_CACHE_DIR"):
        return Path(os.environ["LABELFIX_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labelfix"


class EmbeddingCache:
    """float32 vectors in one SQLite file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "embeddings.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, backbone: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE backbone = ? AND content_hash IN ({marks})",
                [backbone, *chunk],
            )
            found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        return found

    def put_many(self, backbone: str, entries: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(backbone, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in entries]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
