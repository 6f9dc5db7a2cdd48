"""The benchmark harness's metric code, on tiny arrays with known answers."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from metrics import detection_report, flag_metrics, ranking_metrics  # noqa: E402


def test_flag_metrics():
    flagged = np.array([True, True, False, False, True])
    truth = np.array([True, False, True, False, True])
    assert flag_metrics(flagged, truth) == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "flagged": 3, "found": 2}
    assert flag_metrics(np.zeros(3, bool), np.array([True, False, False]))["f1"] == 0.0


def test_ranking_metrics_perfect_and_inverted():
    truth = np.array([True, False, False, True])
    assert ranking_metrics(np.array([0.1, 0.9, 0.8, 0.2]), truth) == {"auroc": 1.0, "auprc": 1.0}
    assert ranking_metrics(np.array([0.9, 0.1, 0.2, 0.8]), truth)["auroc"] == 0.0


def test_detection_report():
    given = np.array([0, 1, 1, 0])
    clean = np.array([0, 1, 0, 0])
    pred_probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    report = detection_report(pred_probs[np.arange(4), given], np.array([False, False, True, False]), pred_probs, given, clean)
    assert report["noise_rate"] == 0.25 and report["auroc"] == 1.0
    assert report["cleanlab_filter"]["f1"] == 1.0
    assert report["argmax_not_given"]["precision"] == 0.5  # image 3 is predicted 1 but its label 0 is right
    assert report["accuracy_vs_clean"] == pytest.approx(0.75) and report["accuracy_vs_given"] == pytest.approx(0.5)
