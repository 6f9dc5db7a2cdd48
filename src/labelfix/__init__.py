"""labelfix: find and fix bad labels and bad images in image-classification datasets.

    >>> import labelfix
    >>> result = labelfix.scan("path/to/dataset", folds=5, seed=0)
    >>> result.flagged.head()
"""

from labelfix.config import ScanConfig, load_config
from labelfix.dataset import Manifest, read_dataset
from labelfix.errors import LabelfixError
from labelfix.pipeline import ScanResult, scan

__all__ = ["LabelfixError", "Manifest", "ScanConfig", "ScanResult", "load_config", "read_dataset", "scan"]
