"""Datasets in the layouts people have, read into one `Manifest` value."""

from labelfix.dataset.manifest import Item, Manifest
from labelfix.dataset.readers import ReaderOptions, read_dataset

__all__ = ["Item", "Manifest", "ReaderOptions", "read_dataset"]
