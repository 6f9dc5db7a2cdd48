"""Every plot labelfix draws, with matplotlib's object API (no pyplot, no backend switch, no global state).

Each function returns a `Figure`; `png_data_uri` embeds one in HTML, `save_png` writes one to a file.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from labelfix.fileio import atomic_path

BLUE, RED = "#4c78a8", "#e45756"


def png_bytes(figure: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def png_data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure)).decode("ascii")


def save_png(figure: Figure, path: Path) -> None:
    """Write the figure as a PNG, atomically."""
    with atomic_path(Path(path)) as temporary:
        temporary.write_bytes(png_bytes(figure, dpi=100))


def class_distribution(classes: list[str], counts: np.ndarray, flagged: np.ndarray) -> Figure:
    """Horizontal bars: images per class, the flagged share highlighted."""
    height = max(2.0, 0.32 * len(classes) + 1)
    figure = Figure(figsize=(7, min(height, 14)))
    axis = figure.subplots()
    positions = np.arange(len(classes))
    axis.barh(positions, counts - flagged, color=BLUE, label="not flagged")
    axis.barh(positions, flagged, left=counts - flagged, color=RED, label="flagged label issue")
    axis.set_yticks(positions, labels=classes, fontsize=8 if len(classes) > 30 else 10)
    axis.invert_yaxis()
    axis.set_xlabel("images (given label)")
    axis.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, fontsize=8, frameon=False)  # above, off the bars
    axis.spines[["top", "right"]].set_visible(False)
    return figure


def count_matrix(matrix: np.ndarray, classes: list[str], *, rows: str, columns: str, shade_by_row: bool = False,
                 cmap: str = "Reds") -> Figure:
    """A (K, K) matrix of counts as a heatmap with the counts written in (up to 25 classes).

    With `shade_by_row` a cell's colour is its share of its row (a confusion matrix: rows are true classes);
    otherwise its count (the noise matrix of flagged images). Zero cells are left blank.
    """
    matrix = np.asarray(matrix)
    shade = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if shade_by_row else matrix
    size = min(12.0, max(3.5, 0.45 * len(classes) + 2))
    figure = Figure(figsize=(size, size * 0.85))
    axis = figure.subplots()
    image = axis.imshow(shade, cmap=cmap, vmin=0, vmax=1 if shade_by_row else max(int(matrix.max()), 1))
    ticks = np.arange(len(classes))
    small = len(classes) > 25
    axis.set_xticks(ticks, labels=classes, rotation=90, fontsize=6 if small else 9)
    axis.set_yticks(ticks, labels=classes, fontsize=6 if small else 9)
    axis.set_xlabel(columns)
    axis.set_ylabel(rows)
    if not small:
        middle = (1 if shade_by_row else max(int(matrix.max()), 1)) / 2
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                color = "white" if shade[row, column] > middle else "black"
                axis.text(column, row, str(count), ha="center", va="center", fontsize=8, color=color)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    return figure


def score_histogram(scores: np.ndarray, flagged: np.ndarray) -> Figure:
    """Distribution of label-quality scores, flagged images in red."""
    figure = Figure(figsize=(7, 2.8))
    axis = figure.subplots()
    bins = np.linspace(0, 1, 41)
    axis.hist(scores[~flagged], bins=bins, color=BLUE, label="not flagged")
    axis.hist(scores[flagged], bins=bins, color=RED, label="flagged")
    axis.set_yscale("log")
    # counts as plain numbers (1, 10, 100): the default 10ⁿ labels are typeset as maths, 0.2-0.3 s of a scan here
    axis.yaxis.set_major_formatter(LogFormatter())
    axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_xlabel("label quality score (out-of-fold probability of the given label)")
    axis.set_ylabel("images")
    axis.legend(fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    return figure


def training_curves(rows: list[dict]) -> Figure:
    """Train/val loss and val accuracy per epoch (rows of metrics.csv)."""
    epochs = [row["epoch"] for row in rows]
    figure = Figure(figsize=(10, 4))
    losses, accuracy = figure.subplots(1, 2)
    losses.plot(epochs, [row["train_loss"] for row in rows], marker="o", label="train")
    if rows and rows[0].get("val_loss", "") != "":
        losses.plot(epochs, [row["val_loss"] for row in rows], marker="o", label="validation")
        accuracy.plot(epochs, [row["val_accuracy"] for row in rows], marker="o")
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    losses.legend()
    accuracy.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    for axis in (losses, accuracy):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    figure.tight_layout()
    return figure


def lr_sweep(lrs: np.ndarray, losses: np.ndarray, suggestion: float) -> Figure:
    """Loss against learning rate (log scale) with the suggested learning rate marked."""
    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    axis.plot(lrs, losses)
    axis.set_xscale("log")
    nearest = int(np.argmin(np.abs(np.log(lrs) - math.log(suggestion))))
    axis.plot([suggestion], [losses[nearest]], "ro", label=f"suggested lr {suggestion:.2e}")
    axis.set(xlabel="learning rate", ylabel="smoothed training loss")
    axis.legend()
    figure.tight_layout()
    return figure
