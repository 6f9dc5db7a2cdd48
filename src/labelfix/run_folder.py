"""What every run folder (scan or train) needs: where it goes by default, and the library versions it records."""

from __future__ import annotations

import platform
from importlib.metadata import version
from pathlib import Path

from labelfix.dataset import Manifest
from labelfix.errors import ConfigError

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
