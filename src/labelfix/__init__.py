"""labelfix: find and fix bad labels and bad images in image-classification datasets.

    >>> import labelfix
    >>> result = labelfix.scan("path/to/dataset", folds=5, seed=0)
    >>> result.flagged.head()
"""

from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec

from labelfix.config import ScanConfig, load_config
from labelfix.dataset import Manifest, read_dataset
from labelfix.errors import LabelfixError


def _python_strings_in_pandas() -> None:
    """File names need not be UTF-8 (undecodable bytes arrive as surrogate escapes), and pandas' pyarrow-backed
    strings refuse them: where pyarrow is installed (labelfix[ray] brings it), pandas keeps its strings in Python."""
    if find_spec("pyarrow") is not None and find_spec("pandas") is not None:
        import pandas

        pandas.set_option("mode.string_storage", "python")


_python_strings_in_pandas()

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
