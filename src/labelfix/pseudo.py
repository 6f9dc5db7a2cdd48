"""`labelfix pseudo-label`: labels for an unlabelled pool from trained checkpoints, kept only where they are
likely right.

Per class, a threshold on the predicted probability is chosen on each checkpoint's own validation images (its
run folder's split.csv): the lowest threshold at which the predictions of that class reach the asked
precision (seed 004's per-class thresholds: a class the model confuses gets a higher one). With several
checkpoints the pool's probabilities are averaged and each class takes the highest of their thresholds; a
class no checkpoint can make precise enough keeps nothing, and is named.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelfix.errors import DatasetError
from labelfix.fileio import atomic_path, json_line, link_or_copy, printable, write_text_atomic
from labelfix.progress import NoProgress, Progress

LABELS_FILE = "labels.jsonl"
SUMMARY_FILE = "summary.csv"
PAGE_FILE = "pseudo.html"


CONFIDENCE_Z = 1.645  # one-sided 95%: the precision a threshold promises is a lower bound, not a hope


def precision_thresholds(probabilities: np.ndarray, labels: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class (K,): the lowest probability threshold at which the images predicted as that class (argmax,
    probability ≥ threshold) are right at least `target` of the time, by the lower bound of a 95% Wilson interval
    (so a handful of lucky validation images promises nothing), and the precision measured there; NaN where no
    threshold reaches it (or nothing is predicted as the class)."""
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    n_classes = probabilities.shape[1]
    thresholds, precisions = np.full(n_classes, np.nan), np.full(n_classes, np.nan)
    for k in range(n_classes):
        mine = np.flatnonzero(predicted == k)
        order = mine[np.argsort(-confidence[mine], kind="stable")]
        counts = np.arange(1, len(order) + 1)
        right = np.cumsum(labels[order] == k) / counts  # precision of the top j, each j
        reaching = np.flatnonzero(wilson_lower_bound(right, counts) >= target)
        if len(reaching):
            j = reaching[-1]  # the most images at the asked precision
            thresholds[k], precisions[k] = confidence[order[j]], right[j]
    return thresholds, precisions


def wilson_lower_bound(share: np.ndarray, counts: np.ndarray, z: float = CONFIDENCE_Z) -> np.ndarray:
    """The lower end of the Wilson score interval of a proportion `share` measured on `counts` trials."""
    z2 = z * z
    centre = share + z2 / (2 * counts)
    spread = z * np.sqrt(share * (1 - share) / counts + z2 / (4 * counts * counts))
    return (centre - spread) / (1 + z2 / counts)


@dataclass(frozen=True)
class PseudoLabels:
    classes: list[str]
    files: list[Path]  # the pool's readable images
    probabilities: np.ndarray  # (N, K), averaged over the checkpoints
    thresholds: np.ndarray  # (K,), NaN: the class keeps nothing
    precisions: np.ndarray  # (K,) estimated on validation images (the least precise checkpoint's)

    @property
    def kept(self) -> np.ndarray:
        predicted = self.probabilities.argmax(axis=1)
        confidence = self.probabilities.max(axis=1)
        threshold = self.thresholds[predicted]
        return ~np.isnan(threshold) & (confidence >= np.nan_to_num(threshold, nan=np.inf))


def validation_of(checkpoint_path: Path) -> tuple[list[Path], list[str]]:
    """The validation images and labels of the training run a checkpoint belongs to (its split.csv and run.json)."""
    run_dir = Path(checkpoint_path).parent
    try:
        root = Path(json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["dataset"]["root"])
        with open(run_dir / "split.csv", newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(handle) if row["split"] == "val"]
    except (OSError, KeyError, ValueError):
        raise DatasetError(f"{checkpoint_path}: its run folder has no run.json and split.csv of `labelfix train`; "
                           "thresholds are chosen on the run's validation images") from None
    if not rows:
        raise DatasetError(f"{checkpoint_path}: its run had no validation images to choose thresholds on")
    return [root / row["path"] for row in rows], [row["label"] for row in rows]


@dataclass(frozen=True)
class ScoredPool:
    """The pool's probabilities and each checkpoint's validation predictions, from which thresholds are chosen."""
    classes: list[str]
    files: list[Path]  # the pool's readable images
    probabilities: np.ndarray  # (N, K), averaged over the checkpoints
    validations: list[tuple[np.ndarray, np.ndarray]]  # per checkpoint: probabilities (V, K), label indices (V,)


def score_pool(checkpoints: list[Path], pool: list[Path], *, tta: bool = False, batch_size: int = 32,
               workers: int = 0, device=None, progress: Progress = NoProgress()) -> ScoredPool:
    """Each checkpoint's probabilities for its validation images and for `pool`; the pool's averaged."""
    from labelfix.training.ensemble import load_members
    from labelfix.training.predict import file_probabilities

    options = {"tta": tta, "batch_size": batch_size, "workers": workers, "device": device, "progress": progress}
    members = load_members(list(checkpoints), device or "cpu")
    if members[0].multilabel:
        raise DatasetError(f"{checkpoints[0]}: a multi-label checkpoint; pseudo-labelling keeps one label per image "
                           "and needs single-label checkpoints")
    classes, pooled, validations = members[0].classes, [], []
    for path, member in zip(checkpoints, members):
        val_files, val_labels = validation_of(path)
        unknown = sorted(set(val_labels) - set(classes))
        if unknown:
            raise DatasetError(f"{path}: validation labels {', '.join(unknown[:3])} are not classes of the checkpoint")
        val_probabilities, seen = file_probabilities(member, val_files, **options)
        validations.append((val_probabilities, np.array([classes.index(v) for v in val_labels])[seen]))
        pooled.append(file_probabilities(member, pool, **options))
    readable = pooled[0][1]
    average = np.mean([probabilities for probabilities, _ in pooled], axis=0)
    return ScoredPool(classes, [pool[i] for i in readable], average, validations)


def keep_precise(scored: ScoredPool, precision: float) -> PseudoLabels:
    """Per class the highest of the checkpoints' thresholds for `precision` (NaN where any cannot reach it)."""
    chosen = [precision_thresholds(probabilities, labels, precision) for probabilities, labels in scored.validations]
    thresholds = np.max([threshold for threshold, _ in chosen], axis=0)
    reached = np.min([measured for _, measured in chosen], axis=0)
    return PseudoLabels(scored.classes, scored.files, scored.probabilities, thresholds, reached)


def pseudo_label(checkpoints: list[Path], pool: list[Path], precision: float, **options) -> PseudoLabels:
    """Average the checkpoints' probabilities over `pool` and choose the thresholds (see the module); `options` are
    `score_pool`'s."""
    return keep_precise(score_pool(checkpoints, pool, **options), precision)


def write_pseudo_labels(result: PseudoLabels, out: Path, *, page_images: int = 48) -> list[dict]:
    """Into `out`: the kept images (hard links, copies where links cannot be made) under <class>/,
    labels.jsonl (image, label, probability, threshold), summary.csv, and pseudo.html. Returns the summary rows."""
    out = Path(out)
    kept = result.kept
    predicted, confidence = result.probabilities.argmax(axis=1), result.probabilities.max(axis=1)
    records, by_class = [], {name: [] for name in result.classes}
    for i in np.flatnonzero(kept):
        label = result.classes[predicted[i]]
        target = out / label / f"{i:07d}-{result.files[i].name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            link_or_copy(result.files[i], target)
        record = {"image": target.relative_to(out).as_posix(), "label": label, "probability": round(float(confidence[i]), 4),
                  "threshold": round(float(result.thresholds[predicted[i]]), 4), "source": str(result.files[i])}
        records.append(record)
        by_class[label].append(record)
    write_text_atomic(out / LABELS_FILE, "".join(map(json_line, records)))
    rows = [{"class": name, "predicted": int((predicted == k).sum()), "kept": len(by_class[name]),
             "threshold": None if np.isnan(result.thresholds[k]) else round(float(result.thresholds[k]), 4),
             "estimated_precision": None if np.isnan(result.precisions[k]) else round(float(result.precisions[k]), 4)}
            for k, name in enumerate(result.classes)]
    with atomic_path(out / SUMMARY_FILE) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(out / PAGE_FILE, _page(by_class, rows, out, page_images))
    return rows


def _page(by_class: dict[str, list[dict]], rows: list[dict], out: Path, per_class: int) -> str:
    """Kept images per class, lowest confidence first: what to look at before training on them."""
    from labelfix.images.io import thumbnail_data_uri

    parts = ["<!doctype html><meta charset='utf-8'><title>Pseudo-labels · labelfix</title>",
             "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:4px;width:130px;"
             "font-size:12px;overflow-wrap:anywhere}img{width:128px;height:128px;object-fit:cover}</style>",
             "<h1>Pseudo-labels</h1><p>Each class's kept images, lowest probability first; look before you train.</p>"]
    for row in rows:
        kept = sorted(by_class[row["class"]], key=lambda record: record["probability"])
        threshold = "keeps nothing (no threshold reaches the precision)" if row["threshold"] is None else (
            f"threshold {row['threshold']}, estimated precision {row['estimated_precision']}")
        parts.append(f"<h2>{html.escape(row['class'])}: {row['kept']} of {row['predicted']} kept · {threshold}</h2>")
        for record in kept[:per_class]:
            uri = thumbnail_data_uri(out / record["image"], 128) or ""
            parts.append(f"<figure><img src='{uri}' alt=''><figcaption>{html.escape(printable(record['image']))} "
                         f"· {record['probability']:.3f}</figcaption></figure>")
        if len(kept) > per_class:
            parts.append(f"<p>… and {len(kept) - per_class} more (labels.jsonl lists them all)</p>")
    return "\n".join(parts) + "\n"
