"""Evaluation: pure metrics over label and probability arrays, plots, and predicted probabilities (with TTA)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from labelfix.images.transforms import tta_views  # noqa: E402


def predict_probabilities(network: nn.Module, batches: DataLoader, device: torch.device, *, tta: bool = False,
                          progress_advance=None) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) and labels (N,) of the readable images, in loader order; TTA averages views."""
    network.eval().to(device)
    probabilities, labels = [], []
    with torch.inference_mode():
        for images, targets in batches:
            if len(targets):
                images = images.to(device)
                views = tta_views(images) if tta else [images]
                probabilities.append(torch.stack([network(v).float().softmax(1) for v in views]).mean(0).cpu().numpy())
                labels.append(targets.numpy())
            if progress_advance is not None:
                progress_advance(1)
    n_classes = getattr(network, "num_classes", 0)
    if not probabilities:
        return np.zeros((0, n_classes)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probabilities).astype(np.float64), np.concatenate(labels)


def top_k_accuracy(labels: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of images whose label is among the k most probable classes."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def most_confused(matrix: np.ndarray, classes: list[str], limit: int = 10) -> list[dict]:
    """Off-diagonal cells of a confusion matrix (rows: true), largest first: [{true, predicted, count}]."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    cells = sorted(zip(*np.nonzero(off)), key=lambda cell: (-off[cell], cell))[:limit]
    return [{"true": classes[i], "predicted": classes[j], "count": int(off[i, j])} for i, j in cells]


def evaluation_summary(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, top-5 accuracy (5+ classes), per-class precision/recall/F1/support, confusion matrix, most-confused pairs."""
    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=indices, zero_division=0)
    matrix = confusion_matrix(labels, predicted, labels=indices)
    summary = {"images": int(len(labels)), "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0}
    if len(classes) >= 5:
        summary["top5_accuracy"] = top_k_accuracy(labels, probabilities, 5)
    summary["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    summary["confusion_matrix"] = matrix.tolist()
    summary["most_confused"] = most_confused(matrix, classes)
    return summary


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    """Row-normalised confusion matrix (rows: true class) with counts, as a PNG."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = min(4 + 0.4 * len(classes), 24)
    figure, axes = plt.subplots(figsize=(side, side))
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(classes))
    axes.set_xticks(ticks, classes, rotation=90)
    axes.set_yticks(ticks, classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(classes) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_curves(rows: list[dict], path: Path) -> None:
    """Train/val loss and val accuracy per epoch, as a PNG."""
    epochs = [row["epoch"] for row in rows]
    figure, (losses, accuracy) = plt.subplots(1, 2, figsize=(10, 4))
    losses.plot(epochs, [row["train_loss"] for row in rows], marker="o", label="train")
    if rows and "val_loss" in rows[0] and rows[0]["val_loss"] != "":
        losses.plot(epochs, [row["val_loss"] for row in rows], marker="o", label="validation")
        accuracy.plot(epochs, [row["val_accuracy"] for row in rows], marker="o")
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    losses.legend()
    accuracy.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
