"""What every run folder (scan or train) needs: where it goes by default, room to be written, its files written
as a whole, and the library versions it records."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from labelfix.dataset import Manifest
from labelfix.errors import ConfigError

STAGING_PREFIX = ".writing-"

LIBRARIES = ("labelfix", "torch", "torchvision", "timm", "cleanlab", "scikit-learn", "numpy", "pandas", "pillow")


def run_folder(out: Path | str | None, manifest: Manifest, name: str) -> Path:
    """`out`, or ./labelfix-runs/<name>; never a default inside the dataset (labelfix does not write there unasked)."""
    if out is not None:
        return Path(out).resolve()
    run_dir = (Path.cwd() / "labelfix-runs" / name).resolve()
    if run_dir.is_relative_to(manifest.root.resolve()):
        raise ConfigError(
            f"the default run folder {run_dir} would be inside the dataset; choose one with --out "
            "(labelfix does not write into a dataset unless asked)"
        )
    return run_dir


def library_versions() -> dict[str, str]:
    """Python's and each of `LIBRARIES`' version ("unknown" where one is not installed)."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except Exception:  # noqa: BLE001
            found[name] = "unknown"
    return found


def check_writable(run_dir: Path, needed_bytes: int) -> None:
    """Raise ConfigError, before any long work, unless `run_dir` can be created and written and its disk has
    `needed_bytes` free."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as error:
        raise ConfigError(f"cannot write the run folder {run_dir} ({error.strerror or error}); choose another "
                          "with --out") from None
    free = shutil.disk_usage(run_dir).free
    if free < needed_bytes:
        raise ConfigError(f"{run_dir}: {free / 2**20:.0f} MiB free, and this run needs about "
                          f"{needed_bytes / 2**20:.0f} MiB; free some space there or choose another folder with --out")


@contextmanager
def staged(run_dir: Path) -> Iterator[Path]:
    """A folder inside `run_dir` to write a run's files into. When the block succeeds they are moved into place
    (renames, which need no space); when it fails they are removed, and the run's earlier files stay as they
    were. Leftovers of a run that was killed are removed first."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=run_dir))
    try:
        yield staging
        for written in sorted(staging.iterdir()):
            os.replace(written, run_dir / written.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
