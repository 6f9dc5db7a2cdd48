"""`labelfix verify`: every image file of a folder decoded (in parallel, no model) and checked with the scan's own
definition of a bad file; bad files optionally moved out, oversize ones optionally shrunk in place.

A file is bad when the scan would call it `unreadable` (`images.io.open_image` fails) or `invalid`
(`issues.health.invalid_reasons`: wrong extension for its content, animated, huge, tiny, extreme sides).
Nothing is deleted: `move_bad_files` moves into a folder outside the dataset and lists every move in a CSV.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labelfix.config import InvalidCheck
from labelfix.dataset.readers import image_files_under
from labelfix.devices import default_workers
from labelfix.errors import ConfigError
from labelfix.fileio import printable, write_bytes_atomic
from labelfix.images.io import UnreadableImage, open_image, read_bytes, shrunk
from labelfix.issues.health import invalid_reasons
from labelfix.progress import NoProgress, Progress

MOVED_FILE = "moved.csv"


@dataclass(frozen=True)
class FileCheck:
    """One file: `kind` is "unreadable", "invalid" or "" (sound); `problem` says why."""

    path: Path
    relative: str
    kind: str
    problem: str
    width: int = 0
    height: int = 0

    @property
    def bad(self) -> bool:
        return bool(self.kind)


def check_file(path: Path, root: Path, settings: InvalidCheck = InvalidCheck()) -> FileCheck:
    """Decode `path` fully and apply the scan's invalid checks."""
    relative = path.relative_to(root).as_posix()
    try:
        _, facts = open_image(read_bytes(path))
    except UnreadableImage as error:
        return FileCheck(path, relative, "unreadable", str(error))
    reasons = invalid_reasons(relative, facts, max_pixels=settings.max_pixels, min_side=settings.min_side,
                              max_side=settings.max_side)
    return FileCheck(path, relative, "invalid" if reasons else "", "; ".join(reasons), facts["width"], facts["height"])


def verify_folder(root: Path, settings: InvalidCheck = InvalidCheck(), *, workers: int | None = None,
                  progress: Progress = NoProgress()) -> list[FileCheck]:
    """Every image file under `root` (links out of it left out, as the scan does), checked in `workers`
    processes (default: `devices.default_workers`; 0: in this process)."""
    root = Path(root).resolve()
    files = image_files_under(root, inside=root)
    workers = default_workers() if workers is None else workers
    with progress.task("verify", len(files)) as advance:
        if workers == 0 or len(files) < 64:
            checked: Iterable[FileCheck] = (check_file(path, root, settings) for path in files)
            return [_advanced(check, advance) for check in checked]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            checked = pool.map(check_file, files, [root] * len(files), [settings] * len(files), chunksize=32)
            return [_advanced(check, advance) for check in checked]


def _advanced(check: FileCheck, advance: Callable[[int], None]) -> FileCheck:
    advance(1)
    return check


def move_bad_files(checks: Iterable[FileCheck], root: Path, quarantine: Path) -> Path:
    """Move every bad file to `quarantine`/<its path in the dataset> (never over another file) and append a row
    per move to `quarantine`/moved.csv (from, to, kind, problem); returns that CSV."""
    root, quarantine = Path(root).resolve(), Path(quarantine).resolve()
    if quarantine == root or quarantine.is_relative_to(root):
        raise ConfigError(f"--move-bad-to {quarantine} is inside the dataset {root}: the files would still be in it; "
                          "choose a folder outside it")
    quarantine.mkdir(parents=True, exist_ok=True)
    listing = quarantine / MOVED_FILE
    new_listing = not listing.exists()
    with listing.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new_listing:
            writer.writerow(["from", "to", "kind", "problem"])
        for check in checks:
            if not check.bad:
                continue
            target = _free_name(quarantine / check.relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(check.path, target)
            writer.writerow([printable(str(check.path)), printable(str(target)), check.kind, check.problem])
            handle.flush()  # the listing keeps up with the moves, even if one fails
    return listing


def shrink_in_place(checks: Iterable[FileCheck], max_side: int) -> int:
    """Resize, in place, the sound images with a side over `max_side` so that their longer side is `max_side`,
    keeping their format (written atomically). Returns how many were resized."""
    resized = 0
    for check in oversize(checks, max_side):
        data = shrunk(check.path.read_bytes(), max_side)
        if data is not None:
            write_bytes_atomic(check.path, data)
            resized += 1
    return resized


def oversize(checks: Iterable[FileCheck], max_side: int) -> list[FileCheck]:
    return [check for check in checks if not check.bad and max(check.width, check.height) > max_side]


def _free_name(target: Path) -> Path:
    """`target`, or `name-1.ext`, `name-2.ext`, ... when something is already there."""
    candidate, number = target, 0
    while candidate.exists():
        number += 1
        candidate = target.with_name(f"{target.stem}-{number}{target.suffix}")
    return candidate
