"""`scan --pred-probs`: a user's own out-of-fold probabilities, read from .npy or CSV and checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labelfix
from labelfix.crossval.given import read_pred_probs
from labelfix.errors import DatasetError


def test_the_users_probabilities_replace_the_cross_validation(scanned, tmp_path):
    manifest = scanned.result.manifest
    labels = manifest.label_indices()
    probabilities = np.full((len(manifest), len(manifest.classes)), 0.05)
    probabilities[np.arange(len(labels)), labels] = 0.9
    chosen = manifest.paths.index(scanned.root / "green" / "green_03.png")
    probabilities[chosen] = np.roll(probabilities[chosen], 1)  # this one image looks like another class
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.save(tmp_path / "p.npy", probabilities)
    result = labelfix.scan(scanned.root, out=tmp_path / "run", folds=3, workers=0, pred_probs=tmp_path / "p.npy")
    assert set(result.flagged["path"]) == {"green/green_03.png"}
    readable = ~np.isnan(result.pred_probs).any(axis=1)
    np.testing.assert_allclose(result.pred_probs[readable], probabilities[readable])
    assert "the out-of-fold probabilities you gave" in result.report_path.read_text()
    table = pd.DataFrame(probabilities[::-1], columns=list(manifest.classes))  # a CSV in any row order, keyed by path
    table.insert(0, "image", [item.path for item in manifest.items][::-1])
    table.to_csv(tmp_path / "p.csv", index=False)
    np.testing.assert_allclose(read_pred_probs(tmp_path / "p.csv", manifest), probabilities)


@pytest.mark.parametrize("fault, message", [
    ("shape", "shape"), ("logits", "not 1: give probabilities"), ("nan", "negative or missing"),
    ("csv_missing_row", "no row for 1 images"), ("csv_missing_class", "no column for the classes"),
])
def test_probabilities_that_do_not_fit_the_dataset_are_named(scanned, tmp_path, fault, message):
    manifest = scanned.result.manifest
    probabilities = np.full((len(manifest), len(manifest.classes)), 1 / len(manifest.classes))
    path = tmp_path / "p.npy"
    if fault == "shape":
        probabilities = probabilities[:-1]
    elif fault == "logits":
        probabilities[3] = [2.0, 1.0, 0.5]
    elif fault == "nan":
        probabilities[4, 0] = np.nan
    if fault.startswith("csv"):
        table = pd.DataFrame(probabilities, columns=list(manifest.classes))
        table.insert(0, "image", [item.path for item in manifest.items])
        table = table.iloc[1:] if fault == "csv_missing_row" else table.drop(columns=[manifest.classes[0]])
        path = tmp_path / "p.csv"
        table.to_csv(path, index=False)
    else:
        np.save(path, probabilities)
    with pytest.raises(DatasetError, match=message):
        read_pred_probs(path, manifest)
