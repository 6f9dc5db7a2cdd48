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
    """JPEG thumbnails of dataset images in `folder/<size>/<item_id>.jpg`."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def path(self, item_id: int, size: int) -> Path:
        return self.folder / str(size) / f"{item_id}.jpg"

    def get(self, item_id: int, relative_path: str, size: int) -> Path | None:
        """The thumbnail file, made now if it is missing; None when the image cannot be read."""
        cached = self.path(item_id, size)
        if not cached.exists():
            data = thumbnail_jpeg(self.root / relative_path, size)
            if data is None:
                return None
            write_bytes_atomic(cached, data)
        return cached

    def warm_in_background(self, items: Iterable[tuple[int, str]], size: int = SIZES[0]) -> threading.Thread:
        """Make the grid thumbnails of `items` (in order) in a daemon thread, so paging never waits for decoding."""

        def work() -> None:
            for item_id, relative_path in items:
                try:
                    self.get(item_id, relative_path, size)
                except OSError as error:  # a full disk must not stop the page; it then makes them on demand
                    log.warning("thumbnail cache: %s", error)
                    return

        thread = threading.Thread(target=work, name="thumbnails", daemon=True)
        thread.start()
        return thread
