"""labelfix: find and fix bad labels and bad images in image-classification datasets.

    >>> import labelfix
    >>> result = labelfix.scan("path/to/dataset", folds=5, seed=0)
    >>> result.flagged.head()
"""

from importlib.metadata import PackageNotFoundError, version

from labelfix.config import ScanConfig, load_config
from labelfix.dataset import Manifest, read_dataset
from labelfix.errors import LabelfixError

try:
    __version__ = version("labelfix")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "LabelfixError", "Manifest", "ScanConfig", "ScanResult", "load_config", "read_dataset", "scan"]


def __getattr__(name: str):
    """`scan` and `ScanResult` are imported on first use: the pipeline loads torch, which the review page,
    apply and `--help` do not need."""
    if name in ("scan", "ScanResult"):
        from labelfix import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'labelfix' has no attribute {name!r}")
