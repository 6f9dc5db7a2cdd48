"""Decode and embed every image once (with its statistics), reusing the cache for unchanged files."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Container, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from labelfix.backbones import Backbone
from labelfix.features.cache import CachedImage, EmbeddingCache
from labelfix.features.inference import embed_files, mirror_activations_of_files
from labelfix.features.ray_engine import ray_embed_files
from labelfix.images.stats import STATS_VERSION
from labelfix.progress import NoProgress, Progress

log = logging.getLogger(__name__)
HASH_CHUNK = 256  # files per thread-pool task
LOCAL_SECONDS_PER_ITEM = 1e-4  # files looked at faster than this are left to one thread (see `_in_chunks`)
SETTLE_SECONDS = 5  # a file changed more recently than this is read again at the next scan


@dataclass
class Features:
    """Embeddings of N images in manifest order; rows of unreadable images are zero."""

    embeddings: np.ndarray  # (N, D) float32
    statistics: list[dict]  # image statistics (width, height, brightness, entropy); {} where unreadable
    content_hashes: list[str | None]  # None where the file could not be read
    errors: dict[int, str]  # item index -> why it is unreadable
    newly_embedded: int
    from_cache: int
    activations: np.ndarray | None = None  # (N, views, C, h, w) float16 at the backbone's split point; 0 if unreadable

    def drop_embeddings(self) -> None:
        """Free the (N, D) matrix once nothing needs it any more (a million images: 6.8 GB)."""
        self.embeddings = np.empty((0, self.embeddings.shape[1]), dtype=np.float32)

    @property
    def readable(self) -> np.ndarray:
        mask = np.ones(len(self.content_hashes), dtype=bool)
        mask[list(self.errors)] = False
        return mask


def file_signature(path: Path) -> str | None:
    """What changes when a file's content may have: size, modification and change times (ns), inode and device;
    None if the file cannot be looked at. A change time within the last SETTLE_SECONDS gives None too: a write
    within the same tick of a coarse clock would leave the signature as it was."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) < SETTLE_SECONDS * 10**9:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}:{stat.st_dev}"


def _unchanged_contents(pool: ThreadPoolExecutor, paths: Sequence[Path],
                        cache: EmbeddingCache) -> tuple[dict[int, str], dict[int, tuple[bytes, str]]]:
    """({position: content hash} of the files whose signature is the one recorded with their hash, {position:
    (absolute path as bytes, signature)} of the files with a settled signature), from their metadata alone."""
    signed = _signed(pool, paths)
    known = cache.contents_of_unchanged(dict(signed.values())) if signed else {}
    return {i: known[key] for i, (key, _) in signed.items() if key in known}, signed


def _signed(pool: ThreadPoolExecutor, paths: Sequence[Path]) -> dict[int, tuple[bytes, str]]:
    """{position: (absolute path as bytes, signature)} of the files with a settled signature."""
    signatures = _in_chunks(pool, file_signature, paths)
    return {i: (os.fsencode(path.absolute()), signature)
            for i, (path, signature) in enumerate(zip(paths, signatures)) if signature}


def _in_chunks(pool: ThreadPoolExecutor, function: Callable, items: Sequence,
               advance: Callable[[int], object] | None = None) -> list:
    """`function` of every item, in order, a chunk of HASH_CHUNK items at a time. The first chunk runs in this
    thread, and when it took under LOCAL_SECONDS_PER_ITEM an item (small files in the page cache or on a local SSD)
    so does the rest: threads would only take turns at the GIL (10,000 page-cached CIFAR files hashed in 0.27 s by
    one thread, 1.1 s by 4 on 2 cores). Slower items (a network drive, large files to hash) go to the pool, whose
    threads overlap their waits (3,960 photos: 0.42 s against 0.59)."""
    chunks = [list(items[start : start + HASH_CHUNK]) for start in range(0, len(items), HASH_CHUNK)]

    def run(part: list) -> list:
        return [function(item) for item in part]

    started = time.perf_counter()
    results = run(chunks[0]) if chunks else []
    if advance is not None and results:
        advance(len(results))
    local = time.perf_counter() - started < LOCAL_SECONDS_PER_ITEM * max(len(results), 1)
    for chunk in (map if local else pool.map)(run, chunks[1:]):
        results += chunk
        if advance is not None:
            advance(len(chunk))
    return results


def compute_features(
    paths: Sequence[Path],
    backbone: Backbone,
    cache: EmbeddingCache,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: torch.device | None = None,
    with_statistics: bool = True,
    with_activations: bool = False,
    progress: Progress = NoProgress(),
    engine: str = "local",
    ray_address: str | None = None,
) -> Features:
    """Embeddings for `paths`: cached where the content is known, else computed and cached batch by batch.

    Each file is read once. A file whose signature is the one recorded with its content hash (`file_signature`)
    is known by its metadata; the others are read by the decoding workers, which hash the bytes they decode and
    skip decoding where the content is cached already (copies of known files, a dataset moved or `apply`'d), so a
    first scan no longer reads every file twice (hash, then decode). Identical known files are embedded once.

    Without `with_statistics`, embeddings cached with statistics are used too (the vectors are the same). With
    `with_activations`, the activations at the backbone's split point come too (cached beside the embeddings).
    `engine` "ray" embeds on the Ray cluster at `ray_address` (None: a local one) instead of here, its decode tasks
    reading and hashing the files; `workers` and `device` are then Ray's choice.
    """
    with_stats_key = f"{backbone.key}-stats{STATS_VERSION}"
    keys = [with_stats_key] if with_statistics else [f"{backbone.key}-stats0", with_stats_key]
    with progress.task("look at files", len(paths)) as advance, ThreadPoolExecutor(max_workers=4) as pool:
        unchanged, signed = _unchanged_contents(pool, paths, cache)
        advance(len(paths))
    rows = _Rows([unchanged.get(i) for i in range(len(paths))], {}, backbone.feature_dim)
    unread = [i for i in range(len(paths)) if i not in unchanged]
    unread_set = set(unread)

    def look_up(hashes: list[str]) -> set[str]:
        """Place the cached entries among `hashes`; returns the complete ones (with activations where asked)."""
        found: set[str] = set()
        for key in keys:
            for h, cached in cache.iter_many(key, [h for h in hashes if h not in found]):
                rows.place(h, cached)
                found.add(h)
        if with_activations:
            rows.activations.update(cache.get_activations(backbone.activations_key, list(found)))
            found &= set(rows.activations)
        return found

    def embed(todo: list[int], skip: Container[str] = ()) -> list[int]:
        """Embed the files at positions `todo` and cache them batch by batch; the positions skipped as cached."""
        skipped: list[int] = []
        with progress.task("embed", len(todo)) as advance:
            files = [paths[i] for i in todo]
            if engine == "ray":
                batches = ray_embed_files(files, backbone, batch_size=batch_size, with_statistics=with_statistics,
                                          with_activations=with_activations, hash_contents=True, skip=skip,
                                          address=ray_address)
            else:
                batches = embed_files(files, backbone, batch_size=batch_size, workers=workers, device=device,
                                      with_statistics=with_statistics, with_activations=with_activations,
                                      hash_contents=True, skip=skip)
            # stopped midway (an error, Ctrl-C): the workers or Ray actors are released at once, and what was
            # embedded is committed to the cache before the error goes on
            with closing(batches), cache.writing_behind():
                for batch in batches:
                    read = {todo[j]: h for j, h in batch.content_hashes.items()}
                    for i, h in read.items():
                        rows.reveal(i, h)
                    cache.record_contents((*signed[i], h) for i, h in read.items() if i in signed and i in unread_set)
                    fresh = {rows.hashes[todo[j]]: CachedImage(vector, statistics)
                             for j, vector, statistics in zip(batch.indices, batch.vectors, batch.statistics)}
                    if batch.activations is not None:
                        fresh_activations = {rows.hashes[todo[j]]: array
                                             for j, array in zip(batch.indices, batch.activations)}
                        cache.put_activations(backbone.activations_key, fresh_activations.items())
                        rows.activations.update(fresh_activations)
                    cache.put_many(keys[0], fresh.items())
                    for h, cached in fresh.items():
                        rows.place(h, cached)
                    rows.embedded |= fresh.keys()
                    rows.errors.update({todo[j]: error for j, error in batch.errors.items()})
                    skipped += [todo[j] for j in batch.cached]
                    advance(len(batch.indices) + len(batch.errors) + len(batch.cached))
        return skipped

    complete = look_up(list(rows.positions))
    known_uncached = [where[0] for h, where in rows.positions.items() if h not in complete]
    skip = cache.contents(keys, backbone.activations_key if with_activations else None) if unread else ()
    log.info("%d images: %d known by their metadata, %d of them cached; %d to read", len(paths),
             len(paths) - len(unread), sum(len(rows.positions[h]) for h in complete), len(unread))
    skipped = embed(known_uncached + unread, skip)
    complete |= look_up([rows.hashes[i] for i in skipped])
    # a prefix shared with a cached content, a cached row found damaged, a file changed while it was read (not a
    # file that failed to decode: its duplicates fail as it did)
    missing = [where[0] for h, where in rows.positions.items()
               if h not in complete and h not in rows.embedded and not any(i in rows.errors for i in where)]
    if missing:
        embed(missing)
    rows.fail_unplaced(complete | rows.embedded)
    return Features(
        embeddings=rows.embeddings,
        statistics=rows.statistics,
        content_hashes=[None if i in rows.errors else h for i, h in enumerate(rows.hashes)],
        errors=dict(sorted(rows.errors.items())),
        newly_embedded=rows.newly_embedded,
        from_cache=sum(len(rows.positions[h]) for h in complete - rows.embedded),
        activations=_stacked(rows.activations, rows.hashes, rows.errors) if with_activations else None,
    )


class _Rows:
    """The embeddings, statistics and activations of N files being filled in by content hash, as the hashes
    become known (from the files' metadata, or from the workers that read them)."""

    def __init__(self, hashes: list[str | None], errors: dict[int, str], dim: int) -> None:
        self.hashes = hashes
        self.errors = errors  # position -> why the file is unreadable
        self.positions = _positions_by_hash(hashes)
        self.embeddings = np.zeros((len(hashes), dim), dtype=np.float32)
        self.statistics: list[dict] = [{} for _ in hashes]
        self.activations: dict[str, np.ndarray] = {}
        self.placed: dict[str, int] = {}  # content hash -> a position that holds its row
        self.embedded: set[str] = set()  # contents embedded in this scan

    @property
    def newly_embedded(self) -> int:
        return len(self.embedded)

    def reveal(self, i: int, h: str) -> None:
        """File `i` was read and its content hash is `h` (a file known by its signature and changed since: its new
        content); a row already placed for `h` is copied to it (rows are filled as they come: no second copy of N
        vectors)."""
        if self.hashes[i] == h:
            return
        old = self.hashes[i]
        if old is not None:
            self.positions[old].remove(i)
            if not self.positions[old]:
                del self.positions[old]
                self.placed.pop(old, None)
            elif self.placed.get(old) == i:
                self.placed[old] = self.positions[old][0]
        self.hashes[i] = h
        self.positions.setdefault(h, []).append(i)
        if h in self.placed:
            self.embeddings[i] = self.embeddings[self.placed[h]]
            self.statistics[i] = self.statistics[self.placed[h]]

    def place(self, h: str, cached: CachedImage) -> None:
        for i in self.positions[h]:
            self.embeddings[i] = cached.vector
            self.statistics[i] = cached.statistics
        self.placed[h] = self.positions[h][0]

    def fail_unplaced(self, done: set[str]) -> None:
        """Unreadable: every file whose content was neither cached nor embedded (read again, it had changed again),
        and every duplicate of a file that failed to decode."""
        bad = {self.hashes[i]: error for i, error in self.errors.items() if self.hashes[i]}
        for i, h in enumerate(self.hashes):
            if i in self.errors:
                continue
            if h in bad:
                self.errors[i] = bad[h]
            elif h is None or h not in done:
                self.errors[i] = "the file changed while it was read; scan again"


def with_mirror_views(
    plain: np.ndarray,
    content_hashes: Sequence[str | None],
    paths: Sequence[Path],
    backbone: Backbone,
    cache: EmbeddingCache,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: torch.device | None = None,
    progress: Progress = NoProgress(),
) -> np.ndarray:
    """(N, 2, C, h, w) float16: each image's activations at the split point (`plain`, (N, 1, C, h, w) as
    `compute_features` gives them without flip averaging) and its mirror image's, from the cache or computed (the
    network runs to the split point only) and cached batch by batch. A file unreadable this time gets its plain
    view twice."""
    positions = _positions_by_hash(list(content_hashes))
    key = backbone.mirror_activations_key
    mirrored = cache.get_activations(key, list(positions))
    unique = [where[0] for h, where in positions.items() if h not in mirrored]
    log.info("mirror images: %d cached, %d to compute", len(positions) - len(unique), len(unique))
    with progress.task("mirror images", len(unique)) as advance:
        batches = mirror_activations_of_files([paths[i] for i in unique], backbone, batch_size=batch_size,
                                              workers=workers, device=device)
        with closing(batches), cache.writing_behind():
            for batch in batches:
                fresh = {content_hashes[unique[j]]: array for j, array in zip(batch.indices, batch.activations)}
                cache.put_activations(key, fresh.items())
                mirrored.update(fresh)
                advance(len(batch.indices) + len(batch.errors))
    views = np.repeat(plain, 2, axis=1)
    for i, h in enumerate(content_hashes):
        if h in mirrored:
            views[i, 1] = mirrored[h][0]
    return views


def _positions_by_hash(hashes: list[str | None]) -> dict[str, list[int]]:
    """The positions of each readable content hash (identical files share one)."""
    positions: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        if h:
            positions.setdefault(h, []).append(i)
    return positions


def _stacked(activations: dict[str, np.ndarray], hashes: list[str | None], errors: dict[int, str]) -> np.ndarray | None:
    """One (N, views, C, h, w) float16 array in path order; zeros for unreadable images (None if none is readable)."""
    if not activations:
        return None
    stacked = np.zeros((len(hashes), *next(iter(activations.values())).shape), dtype=np.float16)
    for i, h in enumerate(hashes):
        if i not in errors:
            stacked[i] = activations[h]
    return stacked
