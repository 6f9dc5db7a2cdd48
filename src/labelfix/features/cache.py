"""On-disk cache of what the decode pass computes per file: the embedding and the image statistics, and the
activations at the backbone's split point when a scan fine-tunes the stages after it; and each file's content
hash with the signature (size, times, inode) it had when it was read, so that an unchanged file is not read again.

Keyed by (backbone key [+ statistics version], file content hash), so a re-scan only decodes new or changed files.
Rows are committed batch by batch, so an interrupted scan resumes where it stopped. Every row carries a checksum
of its data: a row that does not match (bytes altered on disk) is left out and computed again, and a cache file
SQLite cannot read is set aside (renamed, never deleted) and started afresh, with a warning naming both files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from threading import Thread

import numpy as np

from labelfix.errors import ConfigError
from labelfix.fileio import set_aside

log = logging.getLogger(__name__)

CACHE_FILE = "decoded.sqlite"
# Embeddings live in a rowid table: its interior pages hold row ids, the 7 KB rows only its leaves. Caches of
# labelfix versions before it hold theirs in `embeddings`, a WITHOUT ROWID table, whose index b-tree carries the
# rows in its interior cells too: filling it took 3x as long, and a lookup read 37 KiB of pages instead of 11
# (200,000 rows, `benchmarks/million_parts.py`). Such a table is still read, never written, and never copied
# over: a million rows would take minutes and their size again in free disk.
LEGACY_EMBEDDINGS = "embeddings"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS embedding_rows (
    backbone TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    statistics TEXT NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (backbone, content_hash)
);
CREATE TABLE IF NOT EXISTS activations (
    backbone TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    shape TEXT NOT NULL,
    activation BLOB NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (backbone, content_hash)
);
CREATE TABLE IF NOT EXISTS files (
    path BLOB PRIMARY KEY,
    signature TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    checksum TEXT NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class CachedImage:
    vector: np.ndarray  # (D,) float32
    statistics: dict[str, float]


class KnownContents:
    """A set of content hashes kept as the sorted first 64 bits of each: a million take 8 MB in every decoding worker
    (a set of the strings about 100 MB). Another content sharing a prefix is taken for a member: whoever asks then
    looks the full hash up (see `features.embed.compute_features`)."""

    def __init__(self, hashes: Iterable[str]) -> None:
        self.prefixes = np.unique(np.fromiter((int(h[:16], 16) for h in hashes), dtype=np.uint64))

    def __contains__(self, content_hash: object) -> bool:
        if not isinstance(content_hash, str) or not self.prefixes.size:
            return False
        prefix = np.uint64(int(content_hash[:16], 16))
        at = int(np.searchsorted(self.prefixes, prefix))
        return at < self.prefixes.size and self.prefixes[at] == prefix


def default_cache_dir() -> Path:
    """`$LABELFIX_CACHE_DIR`, else `$XDG_CACHE_HOME/labelfix`, else `~/.cache/labelfix`."""
    if os.environ.get("LABELFIX_CACHE_DIR"):
        return Path(os.environ["LABELFIX_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "labelfix"


def checksum(*parts: bytes) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _shared_keys(pairs: list[tuple[str, object]]) -> dict:
    """A statistics dict whose keys are the one interned copy of each name: a million dicts otherwise hold twelve
    million key strings (1.5 KB per image instead of 0.8 KB)."""
    return {sys.intern(key): value for key, value in pairs}


class EmbeddingCache:
    """One SQLite file under the cache folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CACHE_FILE
        self.discarded = 0  # rows left out because their data did not match their checksum
        self._behind: Queue | None = None  # inside `writing_behind`: where writes go
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = self._repaired(self._connect)
        except (OSError, sqlite3.OperationalError) as error:
            raise ConfigError(f"cannot use the embedding cache {self.path} ({getattr(error, 'strerror', None) or error}); "
                              "choose another folder with --cache-dir (or LABELFIX_CACHE_DIR)") from None

    def get_many(self, key: str, hashes: Sequence[str]) -> dict[str, CachedImage]:
        return dict(self.iter_many(key, hashes))

    def iter_many(self, key: str, hashes: Sequence[str]) -> Iterator[tuple[str, CachedImage]]:
        """(content hash, cached image) of the cached rows among `hashes`, read a chunk at a time (a million
        vectors never sit in memory twice); the ones not found then in the legacy table, if the cache has one."""
        found = set()
        for table in ["embedding_rows"] + ([LEGACY_EMBEDDINGS] if _has_table(self._db, LEGACY_EMBEDDINGS) else []):
            query = f"SELECT content_hash, vector, statistics, checksum FROM {table}"
            for h, blob, stats, stored in self._select(query, key, [h for h in hashes if h not in found]):
                if checksum(blob, stats.encode()) != stored:
                    self._discard()
                    continue
                found.add(h)
                yield h, CachedImage(np.frombuffer(blob, dtype=np.float32), json.loads(stats, object_pairs_hook=_shared_keys))

    def contents(self, keys: Sequence[str], activations_key: str | None = None) -> KnownContents:
        """The content hashes cached under any of `keys` (and, with `activations_key`, with activations under it
        too), checksums unchecked: what a decoding worker need not decode."""
        tables = ["embedding_rows"] + ([LEGACY_EMBEDDINGS] if _has_table(self._db, LEGACY_EMBEDDINGS) else [])
        marks = ",".join("?" * len(keys))
        try:
            contents = KnownContents(h for table in tables for (h,) in self._db.execute(
                f"SELECT content_hash FROM {table} WHERE backbone IN ({marks})", list(keys)))
            if activations_key is not None:
                with_activations = KnownContents(h for (h,) in self._db.execute(
                    "SELECT content_hash FROM activations WHERE backbone = ?", (activations_key,)))
                contents.prefixes = np.intersect1d(contents.prefixes, with_activations.prefixes)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as error:  # as `_select_in`: started afresh, so nothing is cached
            self._start_afresh(error)
            return KnownContents([])
        return contents

    def put_many(self, key: str, entries: Iterable[tuple[str, CachedImage]]) -> None:
        entries = list(entries)
        self._write("INSERT OR REPLACE INTO embedding_rows VALUES (?, ?, ?, ?, ?)", lambda: _embedding_rows(key, entries))

    def get_activations(self, key: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """{content hash: float16 array} of the cached activations among `hashes`."""
        found = {}
        for h, shape, blob, stored in self._select(
                "SELECT content_hash, shape, activation, checksum FROM activations", key, hashes):
            if checksum(blob, shape.encode()) != stored:
                self._discard()
                continue
            found[h] = np.frombuffer(blob, dtype=np.float16).reshape(json.loads(shape))
        return found

    def put_activations(self, key: str, entries: Iterable[tuple[str, np.ndarray]]) -> None:
        entries = list(entries)
        self._write("INSERT OR REPLACE INTO activations VALUES (?, ?, ?, ?, ?)", lambda: _activation_rows(key, entries))

    def contents_of_unchanged(self, signatures: dict[bytes, str]) -> dict[bytes, str]:
        """{path: content hash} of the files among `signatures` ({path: signature now}) whose hash was recorded
        with the same signature."""
        found = {}
        for path, signature, h, stored in self._select_in("SELECT path, signature, content_hash, checksum FROM files "
                                                          "WHERE path IN", [], list(signatures)):
            if checksum(path, signature.encode(), h.encode()) != stored:
                self._discard()
            elif signatures[path] == signature:
                found[path] = h
        return found

    def record_contents(self, entries: Iterable[tuple[bytes, str, str]]) -> None:
        """Record (path, signature, content hash) of files just read."""
        entries = list(entries)
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                    lambda: [(path, signature, h, checksum(path, signature.encode(), h.encode()))
                             for path, signature, h in entries])

    @contextmanager
    def writing_behind(self) -> Iterator[None]:
        """Inside the block, `put_many` and `put_activations` hand their entries to a thread that makes the rows and
        commits them (one transaction per call, in order, on its own connection; SQLite and the checksums let go
        of Python's lock meanwhile), so the caller, feeding a GPU, does not wait for the disk: on an H200 machine
        the writes took 9 of a 30-second embedding stage, then the checksums 1.4 s of the rest. Leaving the block waits until every row is committed (also after an error or Ctrl-C, so
        a resumed scan finds them); a write error is raised there, and a file found damaged is started afresh
        with the rows not yet written, as `put_many` does."""
        writes: Queue = Queue(maxsize=16)  # (statement, make_rows), None at the end
        failed: list[sqlite3.Error] = []
        unwritten: list[tuple[str, Callable[[], list[tuple]]]] = []

        def commit_in_order() -> None:
            db = None
            try:
                db = self._connect()
            except sqlite3.Error as error:
                failed.append(error)
            while (write := writes.get()) is not None:
                if failed:
                    unwritten.append(write)
                    continue
                statement, make_rows = write
                try:
                    with db:
                        db.executemany(statement, make_rows())
                except sqlite3.Error as error:
                    failed.append(error)
                    unwritten.append(write)
            if db is not None:
                db.close()

        writer = Thread(target=commit_in_order, name="labelfix-cache-writer", daemon=True)
        writer.start()
        self._behind = writes
        try:
            yield
        finally:
            self._behind = None
            writes.put(None)
            writer.join()
        if failed:
            if isinstance(failed[0], sqlite3.OperationalError):
                raise failed[0]
            self._start_afresh(failed[0])
            for statement, make_rows in unwritten:
                self._write(statement, make_rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        db.text_factory = lambda data: data.decode("utf-8", "replace")  # bad bytes then fail their checksum
        db.execute("PRAGMA journal_mode=WAL")
        # commits (one per batch) without waiting for the disk: a crash can lose the last batches, never the file
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        _take_over_rows_without_checksums(db)
        db.commit()
        return db

    def _select(self, query: str, key: str, hashes: Sequence[str]) -> Iterator[tuple]:
        """Rows of `query` for `key` and `hashes`."""
        return self._select_in(f"{query} WHERE backbone = ? AND content_hash IN", [key], hashes)

    def _select_in(self, query: str, parameters: list, values: Sequence) -> Iterator[tuple]:
        """Rows of `query` (ending in `IN`) with `parameters` and `values` in its list, asked 500 values at a time
        (SQLite's variable limit) in key order: 50,000 rows of a million-row cache then read 2.2 GiB of pages
        instead of 5.2 GiB. A file found broken midway is set aside and a new one started: the rows
        after that are simply not cached."""
        unique = sorted(set(values))
        try:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                yield from self._db.execute(f"{query} ({','.join('?' * len(chunk))})", [*parameters, *chunk])
        except sqlite3.OperationalError:
            raise  # locked, full, read-only: not the cache's fault, and not fixed by starting afresh
        except sqlite3.DatabaseError as error:  # malformed, not a database
            self._start_afresh(error)

    def _write(self, statement: str, make_rows: Callable[[], list[tuple]]) -> None:
        """Run `statement` over the rows `make_rows` makes, in one transaction (inside `writing_behind`: later, in
        its thread, rows made there too)."""
        if self._behind is not None:
            self._behind.put((statement, make_rows))
            return
        rows = make_rows()

        def write() -> None:
            with self._db:
                self._db.executemany(statement, rows)

        try:
            write()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as error:
            self._start_afresh(error)
            write()

    def _repaired(self, connect: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
        try:
            return connect()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as error:
            self._set_aside(error)
            return connect()

    def _start_afresh(self, error: Exception) -> None:
        self._db.close()
        self._set_aside(error)
        self._db = self._connect()

    def _set_aside(self, error: Exception) -> None:
        broken = set_aside(self.path)
        log.warning("the embedding cache %s could not be read (%s); it was moved to %s and a new one started "
                    "(its images are embedded again; delete the old file when you like)", self.path, error, broken)

    def _discard(self) -> None:
        if not self.discarded:
            log.warning("%s: cached data that does not match its checksum is left out and computed again", self.path)
        self.discarded += 1


def _embedding_rows(key: str, entries: list[tuple[str, CachedImage]]) -> list[tuple]:
    rows = []
    for h, entry in entries:
        blob, stats = np.asarray(entry.vector, dtype=np.float32).tobytes(), json.dumps(entry.statistics)
        rows.append((key, h, blob, stats, checksum(blob, stats.encode())))
    return rows


def _activation_rows(key: str, entries: list[tuple[str, np.ndarray]]) -> list[tuple]:
    rows = []
    for h, array in entries:
        blob, shape = np.ascontiguousarray(array, dtype=np.float16).tobytes(), json.dumps(list(array.shape))
        rows.append((key, h, shape, blob, checksum(blob, shape.encode())))
    return rows


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _take_over_rows_without_checksums(db: sqlite3.Connection) -> None:
    """Rows of the `decoded` table of labelfix versions before checksums, moved into `embedding_rows` once."""
    if not _has_table(db, "decoded"):
        return
    rows = db.execute("SELECT backbone, content_hash, vector, statistics FROM decoded")
    db.executemany("INSERT OR IGNORE INTO embedding_rows VALUES (?, ?, ?, ?, ?)",
                   ((key, h, blob, stats, checksum(blob, stats.encode())) for key, h, blob, stats in rows))
    db.execute("DROP TABLE decoded")
