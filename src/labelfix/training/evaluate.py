"""Evaluation of a checkpoint on labelled images: pure metrics over label and probability arrays, then the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from labelfix import plots
from labelfix.dataset import ReaderOptions, read_dataset
from labelfix.errors import DatasetError
from labelfix.fileio import write_text_atomic
from labelfix.training.checkpoint import Checkpoint
from labelfix.training.ensemble import load_members
from labelfix.training.multilabel import member_thresholds, multilabel_summary
from labelfix.training.predict import ensemble_probabilities


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


def evaluate_dataset(checkpoint_paths: Path | list[Path], path: str | Path, out_dir: Path | None, *,
                     split: str | None = None, dataset_format: str = "auto", vote: str = "soft", **options) -> dict:
    """Evaluate a checkpoint, or an ensemble of them, on a labelled dataset (any layout scan reads), or on one of
    its splits."""
    manifest = read_dataset(path, ReaderOptions(format=dataset_format))
    chosen = [i for i, item in enumerate(manifest.items) if split is None or item.split == split]
    if not chosen:
        raise DatasetError(f"{path}: no images in split '{split}'")
    paths = [checkpoint_paths] if isinstance(checkpoint_paths, (str, Path)) else list(checkpoint_paths)
    members = load_members([Path(p) for p in paths], options.get("device") or "cpu")
    classes = members[0].classes
    unknown = sorted({label for i in chosen for label in manifest.items[i].labels} - set(classes))
    if unknown:
        raise DatasetError(f"{path}: labels the checkpoint does not know: {', '.join(unknown[:5])}; "
                           f"it knows {', '.join(classes)}")
    if members[0].multilabel:
        labels = manifest.label_matrix(classes)[chosen]
    else:
        labels = np.array([classes.index(manifest.items[i].label) for i in chosen])
    summary = evaluate_members(members, [manifest.paths[i] for i in chosen], labels, out_dir, vote=vote, **options)
    if len(members) > 1:
        summary["members"] = [dict(member, checkpoint=str(p)) for member, p in zip(summary["members"], paths)]
        _write(summary, classes, out_dir)
    return summary


def evaluate_checkpoint(checkpoint: Checkpoint, paths: list[Path], labels: np.ndarray, out_dir: Path | None,
                        **options) -> dict:
    """Evaluate a checkpoint on labelled images; writes evaluation.json and confusion_matrix.png into `out_dir`."""
    return evaluate_members([checkpoint], paths, labels, out_dir, **options)


def evaluate_members(members: list[Checkpoint], paths: list[Path], labels: np.ndarray, out_dir: Path | None, *,
                     vote: str = "soft", tta: bool = False, device: torch.device | None = None, **options) -> dict:
    """Evaluate one checkpoint or an ensemble (its vote, and each member's accuracy) on labelled images."""
    probabilities, readable, own = ensemble_probabilities(members, paths, vote=vote, tta=tta,
                                                          device=device or torch.device("cpu"), **options)
    seen = labels[readable]
    if members[0].multilabel:
        summary = {"checkpoint_epoch": members[0].metrics.get("epoch"), "tta": tta, "multilabel": True,
                   **multilabel_summary(seen, probabilities, members[0].classes, member_thresholds(members))}
        if len(members) > 1:
            summary["members"] = [{"map": multilabel_summary(seen, mine, members[0].classes,
                                                             member_thresholds([member]))["map"]}
                                  for mine, member in zip(own, members)]
        _write(summary, members[0].classes, out_dir)
        return summary
    summary = {"checkpoint_epoch": members[0].metrics.get("epoch"), "tta": tta,
               **evaluation_summary(seen, probabilities, members[0].classes)}
    if len(members) > 1:
        summary["vote"] = vote
        summary["members"] = [{"accuracy": float((probabilities_of_member.argmax(axis=1) == seen).mean())}
                              for probabilities_of_member in own]
    _write(summary, members[0].classes, out_dir)
    return summary


def _write(summary: dict, classes: list[str], out_dir: Path | None) -> None:
    """evaluation.json, and confusion_matrix.png for a single-label evaluation."""
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "evaluation.json", json.dumps(summary, indent=2) + "\n")
    if "confusion_matrix" not in summary:
        return
    figure = plots.count_matrix(np.array(summary["confusion_matrix"]), classes, rows="true",
                                columns="predicted", shade_by_row=True, cmap="Blues")
    plots.save_png(figure, out_dir / "confusion_matrix.png")
