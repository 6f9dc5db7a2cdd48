"""`labelfix scan`: dataset → features → out-of-fold probabilities → issues → run folder."""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from labelfix.backbones import (
    EMBEDDED_MODELS,
    Backbone,
    backbone_from_checkpoint,
    load_backbone,
    plain_data_config,
    with_input_size,
)
from labelfix.config import ScanConfig, flatten, load_config
from labelfix.crossval.auto import (
    choose_method,
    input_side_for_last_stages,
    last_stages_epochs,
    last_stages_runs,
    one_more_stage,
    work,
)
from labelfix.crossval.embedding import out_of_fold_probabilities
from labelfix.crossval.folds import assign_folds, small_classes
from labelfix.crossval.given import read_pred_probs
from labelfix.crossval.multilabel import (
    multilabel_folds,
    multilabel_out_of_fold_probabilities,
    neighbor_label_share,
    presence_accuracy,
    set_agreement,
)
from labelfix.crossval.neighbor_vote import neighbor_vote
from labelfix.crossval.probabilities import agreement, blend, normalized
from labelfix.dataset import Manifest, ReaderOptions, read_dataset
from labelfix.devices import default_batch_size, resolve_device
from labelfix.errors import ConfigError, DatasetError, ModelError
from labelfix.features.cache import EmbeddingCache, default_cache_dir
from labelfix.features.embed import Features, compute_features, with_mirror_views
from labelfix.features.neighbors import Neighbors, nearest_neighbors
from labelfix.features.ray_engine import require_ray
from labelfix.fileio import printable, write_text_atomic
from labelfix.images.resolution import auto_input_size, typical_short_side
from labelfix.issues import CheckResult
from labelfix.issues.finders import find_image_issues
from labelfix.issues.label import estimated_noise_rates, find_label_problems, noise_matrix
from labelfix.issues.multilabel import class_quality, find_multilabel_problems, label_set_text
from labelfix.issues.table import health_issue_types, issue_table
from labelfix.progress import NoProgress, Progress
from labelfix.report import write_report
from labelfix.report.files import write_corrected_labels, write_issues_csv
from labelfix.run_folder import check_writable, library_versions, run_folder, staged
from labelfix.seeding import seed_everything
from labelfix.store import STORE_FILE, write_run_store

log = logging.getLogger(__name__)
NEIGHBORS_K = 10  # neighbours per image: the label vote, near duplicates, outliers and the evidence shown


@dataclass
class ScanResult:
    """What a scan found; the same data is in the run folder's files."""

    run_dir: Path
    manifest: Manifest
    issues: pd.DataFrame  # one row per image, worst first (issues.csv)
    pred_probs: np.ndarray  # (N, K) out-of-fold probabilities in `manifest.classes` order; NaN rows: unreadable
    record: dict  # run.json

    @property
    def flagged(self) -> pd.DataFrame:
        return self.issues[self.issues["is_label_issue"]]

    @property
    def unreadable(self) -> pd.DataFrame:
        return self.issues[self.issues["is_unreadable_issue"]]

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"


class _Timer:
    """Seconds per stage, and the process's peak resident memory when each stage ended (it only grows)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mib: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.peak_rss_mib[name] = peak_rss_mib()


def scan(
    path: str | Path,
    config: ScanConfig | None = None,
    *,
    progress: Progress = NoProgress(),
    **options,
) -> ScanResult:
    """Scan the dataset at `path` and write the run folder.

    Options are any ScanConfig field by name (`folds=5, seed=0, model="lite0", out="runs/x", ...`);
    they override `config`.
    """
    config = _with_options(config or ScanConfig(), options)
    if config.embedding.engine == "ray":
        require_ray()  # before any work: say how to install it
    timer = _Timer()
    started = datetime.now(timezone.utc)
    with timer.stage("read"):
        manifest = read_dataset(path, _reader_options(config))
    multilabel = manifest.is_multilabel
    if multilabel and config.crossval.method == "ensemble" and config.crossval.pred_probs is None:
        raise ConfigError("--method ensemble: a multi-label dataset is cross-validated with --method embedding, "
                          "last_stages or finetune")
    run_dir = run_folder(config.output.out, manifest, manifest.name)
    check_writable(run_dir, _run_bytes(len(manifest), len(manifest.classes)))
    given = read_pred_probs(config.crossval.pred_probs, manifest) if config.crossval.pred_probs else None
    seed_everything(config.seed)
    with timer.stage("load_model"):
        backbone = configured_backbone(config, manifest)
    device = resolve_device(config.embedding.device)
    with timer.stage("embed"):
        features = _features(manifest, backbone, config, device, progress, with_statistics=config.checks.enabled,
                             with_activations=_may_need_activations(config, manifest, backbone))
    readable = _readable(manifest, features)
    labels = (manifest.label_matrix() if multilabel else manifest.label_indices())[readable]  # (N, K) or (N,)
    embeddings = features.embeddings if readable.all() else features.embeddings[readable]  # one copy at most
    with timer.stage("neighbors"):
        neighbors = nearest_neighbors(embeddings, NEIGHBORS_K, device)  # positions among the readable
    activations = None
    if config.crossval.method == "last_stages" and given is None:
        with timer.stage("embed_activations"):  # the mirror images, to the split point
            activations = _two_views(features, manifest, backbone, config, device, progress)
    with timer.stage("crossval"):
        if multilabel:
            folds = multilabel_folds(labels, config.crossval.folds, config.seed)
        else:
            folds = assign_folds(labels, config.crossval.folds, config.seed)
            _warn_small_classes(labels, folds, manifest.classes)
        method = "embedding" if config.crossval.method == "auto" else config.crossval.method
        if given is not None:
            probabilities = given[readable]  # the user's own out-of-fold probabilities, as they are
        else:
            folded = _Folded(labels, folds, neighbors, readable)
            probabilities = _cross_validate(method, folded, manifest, activations, embeddings, backbone,
                                            config, device, progress)
        method_record = {"method": "given" if given is not None else method}
    if config.crossval.method == "auto" and given is None:
        probabilities, method_record = _auto(probabilities, folded, manifest, features, embeddings, backbone, config,
                                             device, progress, timer)
    features.activations = None  # kept for a fine-tuning that did not happen
    del embeddings
    features.drop_embeddings()  # what follows needs the probabilities, neighbours and statistics only
    with timer.stage("find_issues"):
        findings = _find_issues(manifest, features, readable, labels, folds, probabilities, neighbors, config)
    pred_probs = np.full((len(manifest), len(manifest.classes)), np.nan)
    pred_probs[readable] = probabilities
    record = _run_record(config, manifest, backbone, features, device, started, timer, findings.table, int(folds.max()) + 1)
    record["task"] = "multilabel" if multilabel else "single"
    record["crossval"] = method_record  # the method that made the probabilities (config.crossval.method may be auto)
    if method_record["method"] == "last_stages":
        method_record["last_stages_epochs"] = _last_stages_epochs(config, len(labels))
        method_record["last_stages_runs"] = _last_stages_runs(config, len(labels), backbone)
        method_record["last_stages_split"] = backbone.split_module
        method_record["last_stages_precision"] = _last_stages_precision(device, backbone)
    _, key, value = _agreement(probabilities, labels)
    record["quality"] = {key: round(value, 4)}
    if multilabel:
        record["quality"] |= {"out_of_fold_presence_accuracy": round(presence_accuracy(probabilities, labels), 4),
                              "classes": findings.class_quality}
    with timer.stage("write"):
        record["decisions_carried_over"] = _write_outputs(run_dir, config, manifest, pred_probs, features, record, findings)
    _warn_dropped_decisions(record["decisions_carried_over"], run_dir)
    record["timings_seconds"] = timer.seconds
    record["peak_rss_mib"] = timer.peak_rss_mib
    record["images_per_second"] = round(len(manifest) / max(sum(timer.seconds.values()), 1e-9), 2)
    write_text_atomic(run_dir / "run.json", _json(record))  # last: with its run_id, it marks the folder complete
    return ScanResult(run_dir=run_dir, manifest=manifest, issues=findings.table, pred_probs=pred_probs, record=record)


@dataclass
class _Folded:
    """What every method cross-validates: the readable images' labels, folds and nearest neighbours."""

    labels: np.ndarray  # (N,) or (N, K)
    folds: np.ndarray  # (N,)
    neighbors: Neighbors  # positions among the readable
    readable: np.ndarray  # (all images,) bool


def _cross_validate(method: str, folded: _Folded, manifest: Manifest, activations: np.ndarray | None,
                    embeddings: np.ndarray, backbone: Backbone, config: ScanConfig, device, progress) -> np.ndarray:
    """Out-of-fold probabilities (readable N, K) of `method`, blended with the neighbours' label vote."""
    labels, cv = folded.labels, config.crossval
    if labels.ndim == 2 and method == "embedding":
        probabilities = multilabel_out_of_fold_probabilities(
            embeddings, labels, folded.folds, regularization=cv.regularization, seed=config.seed, progress=progress)
    else:
        probabilities = _out_of_fold(method, manifest, activations, embeddings, folded, backbone, config, device,
                                     progress)
    if not cv.neighbor_weight:
        return probabilities
    if labels.ndim == 2:
        return blend(probabilities, neighbor_label_share(folded.neighbors, labels), cv.neighbor_weight)
    vote = neighbor_vote(folded.neighbors, labels, len(manifest.classes))
    return normalized(blend(probabilities, vote, cv.neighbor_weight))


def _last_stages_precision(device, backbone: Backbone) -> str:
    from labelfix.crossval.last_stages import training_dtype

    return "fp32" if training_dtype(device, backbone.reduced_precision) is None else "bf16"


def _out_of_fold(method: str, manifest: Manifest, activations: np.ndarray | None, embeddings: np.ndarray,
                 folded: _Folded, backbone: Backbone, config: ScanConfig, device, progress) -> np.ndarray:
    """Out-of-fold probabilities (readable N, K) of one method (see `CrossValidationConfig.method`)."""
    labels, folds, readable = folded.labels, folded.folds, folded.readable
    n_classes, cv = len(manifest.classes), config.crossval
    if method == "last_stages":
        from labelfix.crossval.last_stages import last_stages_out_of_fold_probabilities

        return last_stages_out_of_fold_probabilities(
            activations[readable], labels, folds, n_classes, backbone,
            epochs=_last_stages_epochs(config, len(labels)), learning_rate=cv.last_stages_lr,
            peak_weight=cv.peak_weight, runs=_last_stages_runs(config, len(labels), backbone), seed=config.seed,
            device=device, progress=progress,
        )
    if method != "finetune":
        head = out_of_fold_probabilities(
            embeddings, labels, folds, n_classes, head=cv.head, regularization=cv.regularization,
            seed=config.seed, device=device, progress=progress,
        )
        if method == "embedding":
            return head
    from labelfix.crossval.finetune import finetune_config, finetuned_out_of_fold_probabilities

    paths = [path for path, ok in zip(manifest.paths, readable) if ok]
    tuned = finetuned_out_of_fold_probabilities(
        paths, labels, folds, n_classes, finetune_config(config, backbone.data_config["input_size"][-1]), progress=progress,
    )
    return tuned if method == "finetune" else blend(head, tuned, 0.5)


def _auto(probabilities: np.ndarray, folded: _Folded, manifest: Manifest, features: Features, embeddings: np.ndarray,
          backbone: Backbone, config: ScanConfig, device, progress, timer: _Timer) -> tuple[np.ndarray, dict]:
    """Method auto after the embedding head: its probabilities, or the last stages' when `choose_method` says so;
    and what run.json records about the choice."""
    labels = folded.labels
    measure, key, head_agreement = _agreement(probabilities, labels)
    choice = choose_method(head_agreement, len(labels), backbone.data_config["input_size"][-1],
                           below=config.crossval.auto_below, max_images=config.crossval.auto_max_images,
                           split_problem=_split_problem(backbone), measure=measure)
    log.log(logging.WARNING if choice.declined else logging.INFO, "method auto: %s", choice.reason)
    record = {"method": choice.method, "auto_reason": choice.reason, f"embedding_{key}": round(head_agreement, 4)}
    if choice.method == "last_stages":
        with timer.stage("embed_activations"):  # the mirror images, to the split point
            activations = _two_views(features, manifest, backbone, config, device, progress)
        with timer.stage("last_stages"):
            probabilities = _cross_validate("last_stages", folded, manifest, activations, embeddings, backbone,
                                            config, device, progress)
    return probabilities, record


def _agreement(probabilities: np.ndarray, labels: np.ndarray) -> tuple[str, str, float]:
    """How far out-of-fold probabilities agree with the given labels: the measure's name in words and as a
    run.json key, and its value (the accuracy for single labels, the presence's micro-F1 for label sets)."""
    if labels.ndim == 2:
        return ("out-of-fold micro-F1 against the given label sets", "out_of_fold_micro_f1",
                set_agreement(probabilities, labels))
    return "out-of-fold accuracy", "out_of_fold_accuracy", agreement(probabilities, labels)


def _last_stages_possible(config: ScanConfig, backbone: Backbone) -> bool:
    """Whether the scan may fine-tune the last stages, known before the embedding head's agreement is."""
    cv = config.crossval
    if cv.pred_probs is not None or _split_problem(backbone):
        return False
    return cv.method in ("last_stages", "auto")


def _may_need_activations(config: ScanConfig, manifest: Manifest, backbone: Backbone) -> bool:
    """Whether the first pass keeps the activations at the split point: the last stages are asked for (a backbone
    that cannot be split then says so at once), or method auto may choose them for this much work."""
    cv = config.crossval
    if cv.method == "last_stages":
        return cv.pred_probs is None
    return (_last_stages_possible(config, backbone)
            and work(len(manifest), backbone.data_config["input_size"][-1]) <= cv.auto_max_images)


def _last_stages_epochs(config: ScanConfig, n_images: int) -> int:
    """`crossval.last_stages_epochs`, with auto resolved for this many images."""
    epochs = config.crossval.last_stages_epochs
    return last_stages_epochs(n_images) if epochs == "auto" else epochs


def _two_views(features: Features, manifest: Manifest, backbone: Backbone, config: ScanConfig, device,
               progress) -> np.ndarray:
    """(N, 2, C, h, w) activations at the split point of each image and its mirror image: the first pass's (taken
    from `features`; computed now where it kept none) and the mirror images', unless flip averaging embedded those."""
    plain, features.activations = features.activations, None
    if plain is None:
        plain = _features(manifest, backbone, config, device, progress, with_statistics=False,
                          with_activations=True).activations
    if backbone.flip_average:
        return plain
    with _cache(config) as cache:
        return with_mirror_views(plain, features.content_hashes, manifest.paths, backbone, cache,
                                 **_pass_options(config, device, progress))


def _last_stages_runs(config: ScanConfig, n_images: int, backbone: Backbone) -> int:
    """`crossval.last_stages_runs`, with auto resolved for this many images at the backbone's input size."""
    runs = config.crossval.last_stages_runs
    return last_stages_runs(n_images, backbone.data_config["input_size"][-1]) if runs == "auto" else runs


def _split_problem(backbone: Backbone) -> str | None:
    """Why the backbone's last stages cannot be split off, or None when they can."""
    try:
        backbone.split_module
    except ModelError as error:
        return str(error)
    return None


def _features(manifest: Manifest, backbone: Backbone, config: ScanConfig, device, progress, *, with_statistics: bool,
              with_activations: bool) -> Features:
    """The images' embeddings (and statistics, activations) from the cache or the backbone."""
    with _cache(config) as cache:
        return compute_features(
            manifest.paths, backbone, cache, with_statistics=with_statistics, with_activations=with_activations,
            engine=config.embedding.engine, ray_address=config.embedding.ray_address,
            **_pass_options(config, device, progress),
        )


def _cache(config: ScanConfig) -> EmbeddingCache:
    return EmbeddingCache(config.embedding.cache_dir or default_cache_dir())


def _pass_options(config: ScanConfig, device, progress) -> dict:
    """How a pass over the image files runs: batch size, decoding workers, device, progress."""
    return {"batch_size": config.embedding.batch_size or default_batch_size(device),
            "workers": config.embedding.workers, "device": device, "progress": progress}


@dataclass
class _Findings:
    table: pd.DataFrame
    checks: dict[str, CheckResult]
    neighbors: Neighbors  # item positions
    noise_rates: np.ndarray  # (K,)
    noise_matrix: np.ndarray  # (K, K) flagged given -> suggested; multi-label: classes given together, flagged
    class_quality: dict[str, dict] | None = None  # multi-label: per class, flagged missing / extra and their rates


def _readable(manifest: Manifest, features: Features) -> np.ndarray:
    readable = features.readable
    if readable.sum() < 2:
        index, reason = next(iter(features.errors.items()))
        raise DatasetError(
            f"no usable images: {len(features.errors)} of {len(manifest)} files could not be read "
            f"(e.g. {manifest.paths[index]}: {reason}); check the paths in the label file"
        )
    return readable


def _warn_small_classes(labels: np.ndarray, folds: np.ndarray, classes: tuple[str, ...]) -> None:
    for k, count in small_classes(labels, int(folds.max()) + 1).items():
        log.warning("class '%s' has only %d readable images (fewer than folds): its flags are less reliable",
                    classes[k], count)


def _find_issues(manifest, features, readable, labels, folds, probabilities, neighbors: Neighbors,
                 config: ScanConfig) -> _Findings:
    """Label issues from the probabilities, image-level checks from neighbours and statistics."""
    filter_by = config.label_issues.filter_by
    checks = {}
    if config.checks.enabled:
        checks = find_image_issues(
            [item.path for item in manifest.items], features.statistics, neighbors, readable,
            [label_set_text(item.labels) for item in manifest.items] if manifest.is_multilabel
            else [item.label for item in manifest.items],
            [item.split or "" for item in manifest.items], config.checks,
        )
    n_classes = len(manifest.classes)
    item_neighbors = Neighbors(indices=np.flatnonzero(readable)[neighbors.indices], distances=neighbors.distances)
    if manifest.is_multilabel:
        issues = find_multilabel_problems(labels, probabilities, filter_by=filter_by)
        quality = class_quality(issues)
        flagged = labels[issues.is_label_issue].astype(np.int64)
        return _Findings(
            table=issue_table(manifest, readable, folds, issues, features.errors, checks), checks=checks,
            neighbors=item_neighbors, noise_rates=np.array([row["extra_rate"] for row in quality]),
            noise_matrix=flagged.T @ flagged,
            class_quality=dict(zip(manifest.classes, quality)),
        )
    label_issues = find_label_problems(labels, probabilities, filter_by=filter_by)
    return _Findings(
        table=issue_table(manifest, readable, folds, label_issues, features.errors, checks),
        checks=checks,
        neighbors=item_neighbors,
        noise_rates=estimated_noise_rates(labels, probabilities),
        noise_matrix=noise_matrix(labels, label_issues.suggested_label, label_issues.is_label_issue, n_classes),
    )


def configured_backbone(config: ScanConfig, manifest: Manifest) -> Backbone:
    """The scan's backbone at the configured (or automatic) input size, with or without flip averaging."""
    if config.embedding.checkpoint is not None:
        backbone = backbone_from_checkpoint(config.embedding.checkpoint)
    else:
        backbone = load_backbone(config.embedding.model, config.embedding.weights)
    may_fine_tune = _last_stages_possible(config, backbone)
    size = config.embedding.image_size
    if size == "auto":
        size = auto_input_size(typical_short_side(manifest.paths), backbone.data_config["input_size"][-1])
        if may_fine_tune:
            fitting = input_side_for_last_stages(len(manifest), size, config.crossval.auto_max_images)
            if fitting != size:
                log.info("input size %d px, not %d: at %d px the last stages of %d images fit "
                         "crossval.auto_max_images", fitting, size, fitting, len(manifest))
            size = fitting
    split_at = "" if config.crossval.last_stages_split == "auto" else config.crossval.last_stages_split
    backbone = replace(with_input_size(backbone, size), flip_average=config.embedding.flip_average, split_at=split_at,
                       reduced_precision=config.embedding.precision == "auto")
    if not split_at and may_fine_tune and one_more_stage(len(manifest), size):
        earlier = backbone.one_stage_earlier()
        if earlier:
            log.info("%d images at %d px: the last stages, if fine-tuned, start after %s (one stage more than "
                     "for larger sets)", len(manifest), size, earlier)
            backbone = replace(backbone, split_at=earlier)
    return backbone


def _with_options(config: ScanConfig, options: dict) -> ScanConfig:
    sections = {name: section for section in ScanConfig.model_fields
                if section != "seed" for name in getattr(config, section).model_fields}
    overrides = {}
    for name, value in options.items():
        if name == "seed":
            overrides["seed"] = value
        elif name in sections:
            overrides[f"{sections[name]}.{name}"] = value
        else:
            raise ConfigError(f"unknown scan option '{name}'; options are seed, {', '.join(sorted(sections))}")
    if not overrides:
        return config
    return load_config(None, {**flatten(config.model_dump(mode="json", exclude_none=True)), **overrides})


def _reader_options(config: ScanConfig) -> ReaderOptions:
    return ReaderOptions(**config.dataset.model_dump())


def dataset_hash(manifest: Manifest, content_hashes: list[str | None]) -> str:
    """Hash of every (path, labels, split, file content): equal hashes mean the same dataset."""
    digest = hashlib.sha256()
    for item, content in zip(manifest.items, content_hashes):
        digest.update(f"{item.path}\t{'|'.join(item.labels)}\t{item.split}\t{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def _run_record(config, manifest, backbone: Backbone, features: Features, device, started, timer, table, folds) -> dict:
    return {
        "run_id": uuid.uuid4().hex,  # this scan; the store holds the same (see labelfix.store.schema)
        "started_at": started.isoformat(timespec="seconds"),
        "config": config.model_dump(mode="json"),
        "reproducibility": (
            f"seed {config.seed} fixes the fold assignment and the head; embeddings are deterministic "
            "on the CPU (on CUDA, mixed precision may change the last digits)"
        ),
        "dataset": {
            "name": manifest.name,
            "root": str(manifest.root),
            "format": manifest.source,
            "label_file": str(manifest.label_file) if manifest.label_file else None,
            "content_hash": dataset_hash(manifest, features.content_hashes),
            "classes": list(manifest.classes),
        },
        "model": {
            "name": backbone.name,
            "architecture": backbone.architecture,
            "weights": str(config.embedding.checkpoint or config.embedding.weights or "")
                       or ("embedded" if backbone.name in EMBEDDED_MODELS else "hub"),
            "weights_hash": backbone.weights_hash,
            "feature_dim": backbone.feature_dim,
            "stages_pooled": backbone.stages_pooled,
            "flip_average": backbone.flip_average,
            "preprocessing": plain_data_config(backbone.data_config),
            "device": str(device),
        },
        "counts": {
            "images": len(manifest),
            "classes": len(manifest.classes),
            "unreadable": len(features.errors),
            "label_issues": int(table["is_label_issue"].sum()),
            "needs_review": int(table["needs_review"].sum()),
            "issues": {name: int(table[f"is_{name}_issue"].sum()) for name in health_issue_types(table)},
            "embedded": features.newly_embedded,
            "from_cache": features.from_cache,
            "folds": folds,
        },
        "versions": library_versions(),
        "timings_seconds": dict(timer.seconds),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def _run_bytes(images: int, classes: int) -> int:
    """About the disk space a run folder needs while it is written (its files twice: staged and the log)."""
    per_image = 600 + 10 * classes + 30 * NEIGHBORS_K
    return 2 * images * per_image + 20 * 2**20


def _write_outputs(run_dir: Path, config: ScanConfig, manifest: Manifest, pred_probs: np.ndarray,
                   features: Features, record: dict, findings: _Findings) -> dict:
    """The run's files, written as a whole (see `staged`); returns what became of earlier review decisions."""
    with staged(run_dir) as staging:
        write_issues_csv(staging / "issues.csv", findings.table)
        write_corrected_labels(staging / "corrected_labels.jsonl", findings.table, drop_flagged=config.output.drop_flagged)
        write_report(
            staging / "report.html",
            run_dir=run_dir,
            table=findings.table,
            classes=list(manifest.classes),
            noise_rates=findings.noise_rates,
            noise_matrix=findings.noise_matrix,
            run_record=record,
            root=manifest.root,
            images_per_pair=config.output.report_images_per_pair,
            notes={name: result.note for name, result in findings.checks.items() if result.note},
            neighbors=findings.neighbors,
            class_quality=findings.class_quality,
        )
        return write_run_store(run_dir / STORE_FILE, manifest, findings.table, pred_probs, features.content_hashes,
                               record, findings.neighbors)


def _warn_dropped_decisions(carried: dict, run_dir: Path) -> None:
    if carried["images_moved"]:
        log.info("review decisions of %d moved or renamed images followed them", carried["images_moved"])
    for reason, what in (("changed", "whose image changed"), ("vanished", "whose image is gone")):
        if carried[f"images_{reason}"]:
            log.warning("review decisions of %d images %s were not carried over (e.g. %s); they are kept in %s, "
                        "table dropped_decisions", carried[f"images_{reason}"], what,
                        ", ".join(map(printable, carried[reason][:3])), run_dir / STORE_FILE)
