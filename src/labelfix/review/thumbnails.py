"""Thumbnails for the review page: made once per image and size, kept under the run folder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from labelfix.fileio import write_bytes_atomic
from labelfix.images.io import thumbnail_jpeg

log = logging.getLogger(__name__)

SIZES = (256, 1024)  # grid cards, the large view


class ThumbnailCache:
    """JPEG thumbnails of dataset images in `folder/<size>/<content hash>.jpg`: keyed by content, so a re-scan
    (new item ids) or an edited image never shows a stale thumbnail."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def get(self, content_hash: str | None, relative_path: str, size: int) -> Path | None:
        """The thumbnail file, made now if it is missing; None when the image cannot be read."""
        if not content_hash:
            return None
        cached = self.folder / str(size) / f"{content_hash}.jpg"
        if not cached.exists():
            data = thumbnail_jpeg(self.root / relative_path, size)
            if data is None:
                return None
            write_bytes_atomic(cached, data)
        return cached

    def warm_in_background(self, items: Iterable[tuple[str | None, str]], size: int = SIZES[0]) -> threading.Thread:
        """Make the grid thumbnails of (content hash, path) `items`, in order, in a daemon thread, so paging
        never waits for decoding."""

        def work() -> None:
            for content_hash, relative_path in items:
                try:
                    self.get(content_hash, relative_path, size)
                except OSError as error:  # a full disk must not stop the page; it then makes them on demand
                    log.warning("thumbnail cache: %s", error)
                    return

        thread = threading.Thread(target=work, name="thumbnails", daemon=True)
        thread.start()
        return thread
