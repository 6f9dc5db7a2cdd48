"""Predictions of a checkpoint for image files or folders: class and top-k probabilities, as rows, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from labelfix.dataset.readers import IMAGE_EXTENSIONS, image_files_under
from labelfix.devices import inference_autocast, network_to, reused_heap
from labelfix.errors import DatasetError, ModelError
from labelfix.images.transforms import tta_views
from labelfix.issues.multilabel import label_set_text
from labelfix.progress import NoProgress, Progress
from labelfix.spreadsheet import safe_row
from labelfix.training.checkpoint import Checkpoint
from labelfix.training.data import eval_loader, evaluation_images, on_device
from labelfix.training.ensemble import combine
from labelfix.training.multilabel import labels_over_threshold, member_thresholds


def image_files(inputs: Sequence[Path]) -> list[Path]:
    """The given files, and the image files under the given folders (sorted, recursive, as the readers find them)."""
    files: list[Path] = []
    for path in map(Path, inputs):
        if path.is_dir():
            files += image_files_under(path)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"{path}: no such file or folder")
    if not files:
        raise DatasetError(f"no image files in {', '.join(map(str, inputs))} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def predict_probabilities(network: nn.Module, batches: DataLoader, device: torch.device, *, tta: bool = False,
                          progress_advance=None, multilabel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) (label sets: each class's sigmoid) and labels (N,) of the readable images, in
    loader order; TTA averages views. On CUDA in fp16 and channels-last; on a CPU in fp32."""
    activation = torch.sigmoid if multilabel else (lambda logits: logits.softmax(1))
    network_to(network.eval(), device)
    probabilities, labels = [], []
    with reused_heap(), torch.inference_mode(), inference_autocast(device, reduced=device.type == "cuda"):
        for images, targets in batches:
            if len(targets):
                images = on_device(images, batches, device)
                views = tta_views(images) if tta else [images]
                probabilities.append(torch.stack([activation(network(v).float()) for v in views]).mean(0).cpu().numpy())
                labels.append(targets.numpy())
            if progress_advance is not None:
                progress_advance(1)
    n_classes = getattr(network, "num_classes", 0)
    if not probabilities:
        return np.zeros((0, n_classes)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probabilities).astype(np.float64), np.concatenate(labels)


def top_k(probabilities: np.ndarray, classes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """For each row of (N, K) probabilities, the k most probable (class, probability), most probable first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, : min(k, len(classes))]
    return [[(classes[j], float(row[j])) for j in columns] for row, columns in zip(probabilities, order)]


def file_probabilities(checkpoint: Checkpoint, files: Sequence[Path], *, tta: bool = False, batch_size: int = 32,
                       workers: int = 0, device: torch.device | None = None,
                       progress: Progress = NoProgress()) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (R, K) of the readable files, and their positions (R,) in `files`."""
    positions = np.arange(len(files))  # carried as the "label", so rows of unreadable files can be told apart
    batches = eval_loader(evaluation_images(files, positions, checkpoint.data_config), batch_size=batch_size,
                          workers=workers)
    with progress.task("predict", len(batches)) as advance:
        return predict_probabilities(checkpoint.network, batches, device or torch.device("cpu"), tta=tta,
                                     progress_advance=advance, multilabel=checkpoint.multilabel)


def ensemble_probabilities(members: Sequence[Checkpoint], files: Sequence[Path], *, vote: str = "soft",
                           **options) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The members' probabilities over `files` combined (`ensemble.combine`), the readable positions, and each
    member's own probabilities."""
    if members[0].multilabel and vote != "soft":
        raise ModelError("multi-label checkpoints vote soft (their probabilities averaged); leave out --vote hard")
    each = [file_probabilities(member, files, **options) for member in members]
    readable = each[0][1]  # the same files decode the same way for every member
    own = [probabilities for probabilities, _ in each]
    return combine(own, vote), readable, own


def predict_files(checkpoints: Checkpoint | Sequence[Checkpoint], files: Sequence[Path], *, k: int = 5,
                  vote: str = "soft", **options) -> list[dict]:
    """One row per file: path, class, probability, top_k [(class, probability)]; unreadable files get an error.
    Several checkpoints vote (`vote`: soft or hard, see `ensemble.combine`)."""
    members = [checkpoints] if isinstance(checkpoints, Checkpoint) else list(checkpoints)
    probabilities, readable, _ = ensemble_probabilities(members, files, vote=vote, **options)
    ranked = dict(zip(readable.tolist(), top_k(probabilities, members[0].classes, k)))
    present = {}
    if members[0].multilabel:
        present = dict(zip(readable.tolist(), labels_over_threshold(probabilities, members[0].classes,
                                                                    member_thresholds(members))))
    rows = []
    for position, path in enumerate(files):
        best = ranked.get(position)
        if best is None:
            rows.append({"path": str(path), "class": None, "probability": None, "top_k": [], "error": "unreadable image"})
        elif members[0].multilabel:  # the label set: every class at or over its threshold
            labels = present[position]
            rows.append({"path": str(path), "class": label_set_text([name for name, _ in labels]), "probability": None,
                         "labels": labels, "top_k": best, "error": None})
        else:
            rows.append({"path": str(path), "class": best[0][0], "probability": best[0][1], "top_k": best, "error": None})
    return rows


def predictions_json(rows: list[dict]) -> str:
    shown = [{**row, "top_k": [{"class": c, "probability": round(p, 6)} for c, p in row["top_k"]],
              **({"labels": [{"class": c, "probability": round(p, 6)} for c, p in row["labels"]]} if "labels" in row else {})}
             for row in rows]
    return json.dumps(shown, indent=2) + "\n"


def predictions_csv(rows: list[dict]) -> str:
    """path, class, probability, then class_i / probability_i for the top k, and error."""
    k = max((len(row["top_k"]) for row in rows), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "class", "probability", *[f"{name}_{i}" for i in range(1, k + 1)
                                                         for name in ("class", "probability")], "error"])
    for row in rows:
        cells = [cell for name, p in row["top_k"] for cell in (name, f"{p:.6f}")]
        cells += [""] * (2 * k - len(cells))
        probability = "" if row["probability"] is None else f"{row['probability']:.6f}"
        writer.writerow(safe_row([row["path"], row["class"] or "", probability, *cells, row["error"] or ""]))
    return buffer.getvalue()
