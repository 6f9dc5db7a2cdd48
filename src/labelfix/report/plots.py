"""Plots as PNG data URIs (matplotlib, no display needed)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _to_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def class_distribution(classes: list[str], counts: np.ndarray, flagged: np.ndarray) -> str:
    """Horizontal bars: images per class, the flagged share highlighted."""
    height = max(2.0, 0.32 * len(classes) + 1)
    figure, axis = plt.subplots(figsize=(7, min(height, 14)))
    positions = np.arange(len(classes))
    axis.barh(positions, counts - flagged, color="#4c78a8", label="not flagged")
    axis.barh(positions, flagged, left=counts - flagged, color="#e45756", label="flagged label issue")
    axis.set_yticks(positions, labels=classes, fontsize=8 if len(classes) > 30 else 10)
    axis.invert_yaxis()
    axis.set_xlabel("images (given label)")
    axis.legend(loc="lower right", fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    return _to_data_uri(figure)


def noise_matrix(classes: list[str], matrix: np.ndarray) -> str:
    """Heatmap of flagged images by given (rows) and suggested (columns) label."""
    size = min(12.0, max(3.5, 0.45 * len(classes) + 2))
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    image = axis.imshow(matrix, cmap="Reds")
    ticks = np.arange(len(classes))
    small = len(classes) > 25
    axis.set_xticks(ticks, labels=classes, rotation=90, fontsize=6 if small else 9)
    axis.set_yticks(ticks, labels=classes, fontsize=6 if small else 9)
    axis.set_xlabel("suggested label")
    axis.set_ylabel("given label")
    if len(classes) <= 25:
        for (row, column), value in np.ndenumerate(matrix):
            if value:
                color = "white" if value > matrix.max() / 2 else "black"
                axis.text(column, row, str(value), ha="center", va="center", fontsize=8, color=color)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    return _to_data_uri(figure)


def score_histogram(scores: np.ndarray, flagged: np.ndarray) -> str:
    """Distribution of label-quality scores, flagged images in red."""
    figure, axis = plt.subplots(figsize=(7, 2.8))
    bins = np.linspace(0, 1, 41)
    axis.hist(scores[~flagged], bins=bins, color="#4c78a8", label="not flagged")
    axis.hist(scores[flagged], bins=bins, color="#e45756", label="flagged")
    axis.set_yscale("log")
    axis.set_xlabel("label quality score (out-of-fold probability of the given label)")
    axis.set_ylabel("images")
    axis.legend(fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    return _to_data_uri(figure)
