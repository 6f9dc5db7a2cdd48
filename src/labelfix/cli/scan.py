"""`labelfix scan`: find likely label errors and image problems; write the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import (
    BatchSizeOption,
    ConfigOption,
    DeviceOption,
    FormatOption,
    JsonOption,
    ModelOption,
    ProgressOption,
    SeedOption,
    SetOption,
    VerboseOption,
    WeightsOption,
    WorkersOption,
    handles_errors,
    print_json,
    progress_bars,
    results_console,
    setup_logging,
    shown,
    with_settings,
)
from labelfix.features.cache import default_cache_dir


@handles_errors
def scan(
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, help="Dataset folder (class folders, labels.jsonl, a CSV) or a label file.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder [default: ./labelfix-runs/<dataset>].")] = None,
    config: ConfigOption = None,
    folds: Annotated[Optional[int], typer.Option(help="Cross-validation folds [default: 5].")] = None,
    method: Annotated[Optional[str], typer.Option(help="Out-of-fold probabilities from: auto (embedding, then last_stages when the head agrees with fewer than 85% of the labels (label sets: micro-F1 under 85%) and the set is small enough: --set crossval.auto_max_images), embedding (a head on frozen embeddings), last_stages (the backbone's last stages fine-tuned per fold), finetune (a network fine-tuned per fold) or ensemble (embedding and finetune averaged) [default: auto].")] = None,
    pred_probs: Annotated[Optional[Path], typer.Option("--pred-probs", exists=True, help="Your own out-of-fold probabilities instead of labelfix's cross-validation: a .npy (N, K) in dataset order, or a CSV with an image column and one column per class.")] = None,
    seed: SeedOption = None,
    model: ModelOption = None,
    weights: WeightsOption = None,
    checkpoint: Annotated[Optional[Path], typer.Option(exists=True, help="A checkpoint.pt of `labelfix train` as the backbone instead of --model: scan again with what a first round of training learned.")] = None,
    dataset_format: FormatOption = None,
    path_column: Annotated[Optional[str], typer.Option(help="CSV column or JSONL key with image paths [default: image].")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column or JSONL key with labels [default: label].")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="CSV column or JSONL key with train/val/test splits [default for JSONL: split].")] = None,
    label_regex: Annotated[Optional[str], typer.Option(help=r"Label from file names: a regex whose first group is the label, e.g. '([^/]+)_\d+\.jpg$'.")] = None,
    label_separator: Annotated[Optional[str], typer.Option(help="Multi-label CSV: the character between the labels of a cell, e.g. ' ' for 'haze primary'.")] = None,
    task: Annotated[Optional[str], typer.Option(help="auto, single or multilabel: label sets even where every image has one label [default: auto, multi-label when the labels are lists or --label-separator is given].")] = None,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    engine: Annotated[Optional[str], typer.Option(help="Where images are decoded and embedded: local, or ray (Ray Data tasks and one backbone replica per GPU of a Ray cluster; pip install \"labelfix[ray]\") [default: local].")] = None,
    ray_address: Annotated[Optional[str], typer.Option(help="--engine ray: the Ray cluster to join, 'auto' or HEAD:6379 [default: start a local Ray].")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help=f"Embedding cache [default: {default_cache_dir()}].")] = None,
    drop_flagged: Annotated[Optional[bool], typer.Option("--drop-flagged", help="corrected_labels.jsonl leaves flagged images out instead of relabelling them.")] = None,
    progress: ProgressOption = True,
    settings: SetOption = None,
    verbose: VerboseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Find likely label errors and unreadable images; write issues.csv, corrected_labels.jsonl, report.html."""
    from labelfix.config import load_config
    from labelfix.pipeline import scan as run_scan

    setup_logging(verbose)
    overrides = {
        "seed": seed, "crossval.folds": folds, "crossval.method": method, "crossval.pred_probs": pred_probs,
        "embedding.model": model, "embedding.weights": weights, "embedding.checkpoint": checkpoint,
        "embedding.batch_size": batch_size, "embedding.workers": workers, "embedding.device": device,
        "embedding.engine": engine, "embedding.ray_address": ray_address, "embedding.cache_dir": cache_dir,
        "dataset.format": dataset_format, "dataset.path_column": path_column,
        "dataset.label_column": label_column, "dataset.split_column": split_column,
        "dataset.label_regex": label_regex, "dataset.label_separator": label_separator, "dataset.task": task,
        "output.out": out, "output.drop_flagged": drop_flagged,
    }
    scan_config = load_config(config, *with_settings(overrides, settings))
    with progress_bars(progress) as bars:
        result = run_scan(path, scan_config, **bars)
    if as_json:
        print_json(_summary(result))
    else:
        _print_summary(result)


def _summary(result) -> dict:
    """What the scan's --json prints: the counts, where the files are, the label flags worst first."""
    flagged = result.flagged
    summary = {"run_dir": str(result.run_dir), "report": str(result.report_path), "run_id": result.record["run_id"],
               "task": result.record["task"], "counts": result.record["counts"]}
    if result.record["task"] == "multilabel":
        columns = ("path", "given_labels", "suggested_labels", "missing_labels", "extra_labels")
        return {**summary, "label_issues": [
            {name: list(value) if isinstance(value, tuple) else value for name, value in zip(columns, row)}
            for row in zip(*(flagged[name] for name in columns))]}
    return {
        **summary,
        "label_issues": [
            {"path": path, "given_label": given, "suggested_label": suggested, "suggested_label_probability": p}
            for path, given, suggested, p in zip(flagged["path"], flagged["given_label"], flagged["suggested_label"],
                                                 flagged["suggested_label_probability"].astype(float))
        ],
    }


def _print_summary(result) -> None:
    from labelfix.issues.multilabel import label_set_text

    counts = result.record["counts"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("images", str(counts["images"]))
    table.add_row("classes", str(counts["classes"]))
    table.add_row("likely label errors", f"[bold red]{counts['label_issues']}[/]")
    table.add_row("unreadable files", str(counts["unreadable"]))
    for name, count in counts.get("issues", {}).items():
        if count:
            table.add_row(f"  {name.replace('_', ' ')}", str(count))
    table.add_row("embedded / from cache", f"{counts['embedded']} / {counts['from_cache']}")
    table.add_row("time", f"{sum(result.record['timings_seconds'].values()):.1f} s")
    results = results_console()
    results.print(table)
    for row in result.flagged.head(5).itertuples():
        if result.record["task"] == "multilabel":
            change = "; ".join(f"{what} {shown(', '.join(labels))}" for what, labels in
                               (("missing", row.missing_labels), ("extra", row.extra_labels)) if labels)
            results.print(f"  {shown(row.path)}: {shown(label_set_text(row.given_labels))} ({change})", highlight=False)
        else:
            results.print(f"  {shown(row.path)}: {shown(row.given_label)} → {shown(row.suggested_label)} "
                          f"(p={row.suggested_label_probability:.2f})", highlight=False)
    results.print(f"Report: [bold]{shown(result.report_path)}[/]", highlight=False)
