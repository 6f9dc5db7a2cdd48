"""`labelfix download`: images from URL lists into class folders, each verified by a full decode before it is kept.

A URL list is untrusted input: only http and https URLs are fetched, file names come from the content's hash
(never from the URL or the server), labels become folder names only when they are safe ones. Every URL's
outcome is appended to `sources.jsonl` as it finishes, so a second run skips what is done; an image appears
under its class folder only whole (written beside it under a hidden temporary name, then renamed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from labelfix.dataset.readers import read_label_text
from labelfix.errors import DatasetError
from labelfix.fileio import write_bytes_atomic
from labelfix.images.io import UnreadableImage, open_image, shrunk
from labelfix.progress import NoProgress, Progress

SOURCES_FILE = "sources.jsonl"
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
FINAL = {"kept", "duplicate", "refused", "not an image", "too large", "bad label"}  # not tried again on a re-run
RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Source:
    url: str
    label: str


@dataclass(frozen=True)
class Outcome:
    """What became of one URL (a line of sources.jsonl)."""

    url: str
    label: str
    status: str  # kept, duplicate, refused, not an image, too large, bad label, http <code>, timeout, error
    file: str | None = None  # relative to the download folder
    bytes: int = 0
    sha256: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Limits:
    timeout: float = 20.0  # seconds per request
    max_bytes: int = 20 * 2**20
    max_redirects: int = 5
    retries: int = 3  # more tries after a 429, a 5xx or a dropped connection, with exponential backoff
    backoff: float = 1.0  # seconds before the first retry
    per_host: int = 4  # requests at once to one host
    max_side: int | None = None  # resize larger images on the way in (same format)


def read_sources(files: Iterable[Path]) -> list[Source]:
    """URLs and labels from `urls_<label>.txt` files (one URL a line; # comments), CSV (url,label) or JSONL.
    A file without URLs, or a label that cannot be a folder name, is an error naming the file."""
    sources = []
    for path in map(Path, files):
        found = _sources_in(path)
        if not found:
            raise DatasetError(f"{path}: no URLs in it (one URL a line in urls_<class>.txt, or url,label rows)")
        for source in found:
            if not safe_label(source.label):
                raise DatasetError(f"{path}: the label {source.label!r} cannot be a class folder's name (no /, "
                                   "not hidden, printable)")
        sources += found
    return list(dict.fromkeys(sources))  # the same URL and label twice is one download


def _sources_in(path: Path) -> list[Source]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(read_label_text(path)))
        if not {"url", "label"} <= set(reader.fieldnames or []):
            raise DatasetError(f"{path}: a URL CSV needs the columns url and label")
        return [Source(row["url"].strip(), (row["label"] or "").strip()) for row in reader if (row["url"] or "").strip()]
    if suffix == ".jsonl":
        sources = []
        for number, line in enumerate(read_label_text(path).splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                    sources.append(Source(str(record["url"]).strip(), str(record["label"]).strip()))
                except (ValueError, KeyError, TypeError):
                    raise DatasetError(f'{path}:{number}: each line needs {{"url": ..., "label": ...}}') from None
        return sources
    label = path.stem[len("urls_"):] if path.stem.startswith("urls_") else path.stem
    return [Source(line.strip(), label) for line in read_label_text(path).splitlines()
            if line.strip() and not line.strip().startswith("#")]


def safe_label(label: str) -> bool:
    """Whether `label` can be a class folder's name (one path part, not hidden, no control characters)."""
    return bool(label) and label not in (".", "..") and not label.startswith(".") and "/" not in label \
        and "\\" not in label and label.isprintable()


def done_urls(folder: Path) -> dict[tuple[str, str], Outcome]:
    """The outcomes sources.jsonl holds, by (url, label); a line cut short by a crash is ignored."""
    outcomes = {}
    path = Path(folder) / SOURCES_FILE
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                outcome = Outcome(**json.loads(line))
            except (ValueError, TypeError):
                continue
            outcomes[(outcome.url, outcome.label)] = outcome
    return outcomes


def download(sources: list[Source], folder: Path, limits: Limits = Limits(), *, workers: int = 8,
             max_per_class: int | None = None, progress: Progress = NoProgress()) -> list[Outcome]:
    """Fetch, verify and keep every source not done before; returns the outcome of every source."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    earlier = done_urls(folder)
    todo = [s for s in sources if (s.url, s.label) not in earlier or earlier[(s.url, s.label)].status not in FINAL]
    kept = Counter(o.label for o in earlier.values() if o.status == "kept")
    fetcher = _Fetcher(folder, limits, kept, max_per_class)
    outcomes = {key: outcome for key, outcome in earlier.items()}
    with httpx.Client(follow_redirects=True, max_redirects=limits.max_redirects, timeout=limits.timeout,
                      headers={"User-Agent": user_agent()}) as client, \
            (folder / SOURCES_FILE).open("a", encoding="utf-8") as log, \
            ThreadPoolExecutor(max_workers=workers) as pool, progress.task("download", len(todo)) as advance:
        futures = [pool.submit(fetcher.fetch, client, source) for source in todo]
        for future in as_completed(futures):
            outcome = future.result()
            log.write(json.dumps(asdict(outcome)) + "\n")
            log.flush()
            outcomes[(outcome.url, outcome.label)] = outcome
            advance(1)
    return [outcomes[(s.url, s.label)] for s in sources]


def user_agent() -> str:
    from importlib.metadata import version

    return f"labelfix/{version('labelfix')} (image dataset download; +https://pypi.org/project/labelfix/)"


class _Fetcher:
    """One URL at a time per call, safe to call from many threads (host limits, class counts, file names)."""

    def __init__(self, folder: Path, limits: Limits, kept: Counter, max_per_class: int | None) -> None:
        self.folder, self.limits, self.kept, self.max_per_class = folder, limits, kept, max_per_class
        self.lock = threading.Lock()
        self.hosts: dict[str, threading.Semaphore] = {}
        self.claimed: set[str] = set()  # files kept by this run (written, or being written by another thread)

    def fetch(self, client: httpx.Client, source: Source) -> Outcome:
        def outcome(status: str, **details) -> Outcome:
            return Outcome(source.url, source.label, status, **details)

        parts = urlsplit(source.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return outcome("refused", error="only http and https URLs are fetched")
        if not safe_label(source.label):
            return outcome("bad label", error="a label must be a plain folder name (no /, not hidden)")
        if self._full(source.label):
            return outcome("skipped", error="the class has --max-pics images")
        try:
            with self._host(parts.hostname):
                data = self._get(client, source.url)
        except _Failed as failure:
            return outcome(failure.status, error=failure.reason)
        digest = hashlib.sha256(data).hexdigest()
        try:
            _, facts = open_image(data)  # decodes every pixel: a truncated file fails here
        except UnreadableImage as error:
            return outcome("not an image", bytes=len(data), sha256=digest, error=str(error))
        extension = EXTENSIONS.get(facts["format"], ".img")
        relative = f"{source.label}/{digest[:20]}{extension}"
        with self.lock:
            if relative in self.claimed or (self.folder / relative).exists():
                return outcome("duplicate", file=relative, bytes=len(data), sha256=digest)
            if self._full(source.label):
                return outcome("skipped", error="the class has --max-pics images")
            self.claimed.add(relative)
            self.kept[source.label] += 1
        self._write(self.folder / relative, data)
        return outcome("kept", file=relative, bytes=len(data), sha256=digest)

    def _full(self, label: str) -> bool:
        return self.max_per_class is not None and self.kept[label] >= self.max_per_class

    def _host(self, host: str) -> threading.Semaphore:
        with self.lock:
            return self.hosts.setdefault(host, threading.Semaphore(self.limits.per_host))

    def _get(self, client: httpx.Client, url: str) -> bytes:
        """The body, or _Failed; retries 429/5xx and dropped connections with exponential backoff."""
        for attempt in range(self.limits.retries + 1):
            try:
                with client.stream("GET", url) as response:
                    if response.status_code in RETRY_STATUSES and attempt < self.limits.retries:
                        time.sleep(self.limits.backoff * 2**attempt)
                        continue
                    if response.status_code != 200:
                        raise _Failed(f"http {response.status_code}", response.reason_phrase)
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > self.limits.max_bytes:
                        raise _Failed("too large", f"{declared} bytes, over --max-bytes {self.limits.max_bytes}")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > self.limits.max_bytes:
                            raise _Failed("too large", f"over --max-bytes {self.limits.max_bytes}")
                    return bytes(body)
            except httpx.TimeoutException:
                raise _Failed("timeout", f"no answer within {self.limits.timeout} s") from None
            except httpx.TooManyRedirects:
                raise _Failed("error", f"more than {self.limits.max_redirects} redirects") from None
            except (httpx.TransportError, httpx.DecodingError) as error:
                if attempt == self.limits.retries:
                    raise _Failed("error", f"{type(error).__name__}: {error}") from None
                time.sleep(self.limits.backoff * 2**attempt)
        raise _Failed("error", "no answer after retries")

    def _write(self, path: Path, data: bytes) -> None:
        """The file as downloaded, or shrunk to `max_side` in its own format; appears whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, (shrunk(data, self.limits.max_side) if self.limits.max_side else None) or data)


class _Failed(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def summary(outcomes: Iterable[Outcome]) -> tuple[Counter, Counter]:
    """(count per status, images kept per label)."""
    outcomes = list(outcomes)
    return Counter(o.status for o in outcomes), Counter(o.label for o in outcomes if o.status == "kept")

