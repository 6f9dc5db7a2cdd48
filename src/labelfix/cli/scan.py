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
    ModelOption,
    ProgressOption,
    SeedOption,
    VerboseOption,
    WeightsOption,
    WorkersOption,
    console,
    handles_errors,
    progress_bars,
    setup_logging,
    shown,
)
from labelfix.features.cache import default_cache_dir


@handles_errors
def scan(
    path: Annotated[Path, typer.Argument(help="Dataset folder (class folders, labels.jsonl, a CSV) or a label file.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder [default: ./labelfix-runs/<dataset>].")] = None,
    config: ConfigOption = None,
    folds: Annotated[Optional[int], typer.Option(help="Cross-validation folds [default: 5].")] = None,
    method: Annotated[Optional[str], typer.Option(help="Out-of-fold probabilities from: embedding (a head on frozen embeddings), finetune (a network fine-tuned per fold) or ensemble (both averaged) [default: embedding].")] = None,
    seed: SeedOption = None,
    model: ModelOption = None,
    weights: WeightsOption = None,
    dataset_format: FormatOption = None,
    path_column: Annotated[Optional[str], typer.Option(help="CSV column with image paths [default: image].")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column with labels [default: label].")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="CSV column with train/val/test splits.")] = None,
    label_regex: Annotated[Optional[str], typer.Option(help=r"Label from file names: a regex whose first group is the label, e.g. '([^/]+)_\d+\.jpg$'.")] = None,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help=f"Embedding cache [default: {default_cache_dir()}].")] = None,
    drop_flagged: Annotated[Optional[bool], typer.Option("--drop-flagged", help="corrected_labels.jsonl leaves flagged images out instead of relabelling them.")] = None,
    progress: ProgressOption = True,
    verbose: VerboseOption = False,
) -> None:
    """Find likely label errors and unreadable images; write issues.csv, corrected_labels.jsonl, report.html."""
    from labelfix.config import load_config
    from labelfix.pipeline import scan as run_scan

    setup_logging(verbose)
    overrides = {
        "seed": seed, "crossval.folds": folds, "crossval.method": method, "embedding.model": model, "embedding.weights": weights,
        "embedding.batch_size": batch_size, "embedding.workers": workers, "embedding.device": device,
        "embedding.cache_dir": cache_dir, "dataset.format": dataset_format, "dataset.path_column": path_column,
        "dataset.label_column": label_column, "dataset.split_column": split_column,
        "dataset.label_regex": label_regex, "output.out": out, "output.drop_flagged": drop_flagged,
    }
    scan_config = load_config(config, overrides)
    with progress_bars(progress) as shown:
        result = run_scan(path, scan_config, **shown)
    _print_summary(result)


def _print_summary(result) -> None:
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
    console.print(table)
    for row in result.flagged.head(5).itertuples():
        console.print(f"  {shown(row.path)}: {shown(row.given_label)} → {shown(row.suggested_label)} "
                      f"(p={row.suggested_label_probability:.2f})", highlight=False)
    console.print(f"Report: [bold]{shown(result.report_path)}[/]", highlight=False)
