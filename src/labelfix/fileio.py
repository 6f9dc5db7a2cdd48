"""Atomic writes: a file is either the old one or the complete new one, never half written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o644)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def is_utf8(text: str) -> bool:
    """False for text holding a non-UTF-8 file name (Python keeps its bytes as surrogate escapes, which SQLite,
    CSV and HTML cannot take)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def stored_path(path: str) -> str | bytes:
    """A dataset path as the run store keeps it: text, or the file system's bytes for a name that is not UTF-8."""
    return path if is_utf8(path) else os.fsencode(path)


def path_from_store(value: str | bytes) -> str:
    """The path `stored_path` kept, as Python opens it."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def printable(text: str) -> str:
    """`text` with the bytes of a non-UTF-8 file name shown as \\xNN escapes (for pages, CSV and messages)."""
    return text if is_utf8(text) else text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def json_line(record: dict) -> str:
    """`record` as one line of JSON, readable UTF-8; a non-UTF-8 file name in it is written as \\udcNN escapes,
    which JSON readers turn back into the same name (lossless, unlike `printable`)."""
    line = json.dumps(record, ensure_ascii=False)
    return (line if is_utf8(line) else json.dumps(record)) + "\n"


def set_aside(path: Path) -> Path:
    """Move an SQLite file SQLite cannot read (and its -wal and -shm) to `<name>.broken-<time>`; returns the new name."""
    broken = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.replace(f"{path}{suffix}", f"{broken}{suffix}")
    return broken


def link_or_copy(source: Path | str, target: Path | str) -> bool:
    """A hard link to `source` at `target`, or a copy where the file system cannot link; True when linked."""
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copy2(source, target)
        return False
