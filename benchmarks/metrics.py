"""Detection-quality metrics for label-error benchmarks (pure functions, unit-tested)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def flag_metrics(flagged: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a flagged set (N,) bool against the true errors (N,) bool."""
    found = int((flagged & truth).sum())
    precision = found / flagged.sum() if flagged.any() else 0.0
    recall = found / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(float(precision), 4), "recall": round(float(recall), 4), "f1": round(float(f1), 4),
            "flagged": int(flagged.sum()), "found": found}


def ranking_metrics(label_score: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """AUROC and AUPRC of the label-quality score (lower = more likely wrong) for finding the true errors."""
    return {
        "auroc": round(float(roc_auc_score(truth, -label_score)), 4),
        "auprc": round(float(average_precision_score(truth, -label_score)), 4),
    }


def detection_report(label_score: np.ndarray, flagged: np.ndarray, pred_probs: np.ndarray,
                     given: np.ndarray, clean: np.ndarray) -> dict:
    """Everything the label-noise benchmarks print: ranking, flagged set, argmax≠given and accuracies."""
    truth = given != clean
    predicted = pred_probs.argmax(axis=1)
    return {
        "noise_rate": round(float(truth.mean()), 4),
        **ranking_metrics(label_score, truth),
        "cleanlab_filter": flag_metrics(flagged, truth),
        "argmax_not_given": flag_metrics(predicted != given, truth),
        "accuracy_vs_clean": round(float((predicted == clean).mean()), 4),
        "accuracy_vs_given": round(float((predicted == given).mean()), 4),
    }


def print_variants(title: str, variants: dict[str, dict], seconds: dict[str, float], *, width: int = 42) -> None:
    """One line per variant's `detection_report` (AUROC, AUPRC, flagged F1, out-of-fold accuracy), then the seconds."""
    print(f"\n{title}")
    print(f"{'variant':{width}}{'AUROC':>7}{'AUPRC':>7}{'flag F1':>9}{'acc(clean)':>12}{'acc(given)':>12}")
    for name, row in variants.items():
        print(f"{name:{width}}{row['auroc']:>7.3f}{row['auprc']:>7.3f}{row['cleanlab_filter']['f1']:>9.3f}"
              f"{row['accuracy_vs_clean']:>12.3f}{row['accuracy_vs_given']:>12.3f}")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
