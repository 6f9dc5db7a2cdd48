"""The `labelfix` command line: thin typer commands over the library; the only module that prints."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from labelfix.cache import default_cache_dir
from labelfix.errors import LabelfixError

app = typer.Typer(
    help="Find and fix bad labels and bad images in image-classification datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" must not be read as markup and vanish
)
example_app = typer.Typer(help="Bundled example datasets with known label errors.", no_args_is_help=True,
                          rich_markup_mode=None)
app.add_typer(example_app, name="example")
console = Console(stderr=True)


class RichProgress:
    """Progress bars for the library's `progress.task(...)` hooks."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator:
        task_id = self.progress.add_task(description, total=total)
        yield lambda steps=1: self.progress.advance(task_id, steps)
        if total is not None:
            self.progress.update(task_id, completed=total)


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[RichProgress | None]:
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description:>15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield RichProgress(progress)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_time=False, show_path=False)],
        force=True,
    )


def _handles_errors(command):
    """Map LabelfixError to its message and exit code 1; other errors to a crash log a user can attach."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LabelfixError as error:
            console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: nothing was half-written; run the same command again to resume")
            raise typer.Exit(130) from None
        except Exception as error:  # noqa: BLE001
            log_file = default_cache_dir() / "logs" / f"crash-{datetime.now():%Y%m%d-%H%M%S}.log"
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.write_text(traceback.format_exc(), encoding="utf-8")
            console.print(f"[bold red]unexpected error:[/] {type(error).__name__}: {error}\n"
                          f"The full traceback is in {log_file}; please attach it to a bug report.", highlight=False,
                          soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"labelfix {version('labelfix')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                                    help="Show the version and exit.")] = False,
) -> None:
    """Find and fix bad labels and bad images in image-classification datasets."""


# options shared by several commands
WorkersOption = Annotated[Optional[int], typer.Option(help="Image-decoding worker processes.")]
DeviceOption = Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N [default: auto].")]
FormatOption = Annotated[Optional[str], typer.Option("--format", help="Dataset layout: auto, folders, jsonl, csv or regex.")]
ProgressOption = Annotated[bool, typer.Option(help="Show progress bars.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")]


@app.command()
@_handles_errors
def scan(
    path: Annotated[Path, typer.Argument(help="Dataset folder (class folders, labels.jsonl, a CSV) or a label file.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder [default: ./labelfix-runs/<dataset>].")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config; flags override it.")] = None,
    folds: Annotated[Optional[int], typer.Option(help="Cross-validation folds [default: 5].")] = None,
    method: Annotated[Optional[str], typer.Option(help="Out-of-fold probabilities from: embedding (a head on frozen embeddings), finetune (a network fine-tuned per fold) or ensemble (both averaged) [default: embedding].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for folds and the head [default: 0].")] = None,
    model: Annotated[Optional[str], typer.Option(help="Backbone: 'lite0' (embedded, offline) or a timm model name.")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Local weights file for --model (.pth/.safetensors).")] = None,
    dataset_format: FormatOption = None,
    path_column: Annotated[Optional[str], typer.Option(help="CSV column with image paths [default: image].")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column with labels [default: label].")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="CSV column with train/val/test splits.")] = None,
    label_regex: Annotated[Optional[str], typer.Option(help=r"Label from file names: a regex whose first group is the label, e.g. '([^/]+)_\d+\.jpg$'.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per forward pass [default: 64].")] = None,
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

    _setup_logging(verbose)
    overrides = {
        "seed": seed, "crossval.folds": folds, "crossval.method": method, "embedding.model": model, "embedding.weights": weights,
        "embedding.batch_size": batch_size, "embedding.workers": workers, "embedding.device": device,
        "embedding.cache_dir": cache_dir, "dataset.format": dataset_format, "dataset.path_column": path_column,
        "dataset.label_column": label_column, "dataset.split_column": split_column,
        "dataset.label_regex": label_regex, "output.out": out, "output.drop_flagged": drop_flagged,
    }
    scan_config = load_config(config, overrides)
    with _progress_bars(progress) as bars:
        result = run_scan(path, scan_config, **({"progress": bars} if bars else {}))
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
    worst = result.flagged.head(5)
    for row in worst.itertuples():
        console.print(f"  {row.path}: {row.given_label} → {row.suggested_label} "
                      f"(p={row.suggested_label_probability:.2f})", highlight=False)
    console.print(f"Report: [bold]{result.report_path}[/]", highlight=False)


@example_app.command("digits")
@_handles_errors
def example_digits(
    folder: Annotated[Path, typer.Argument(help="Where to write the example dataset.")],
    noise: Annotated[float, typer.Option(help="Share of labels to flip.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed for which labels are flipped.")] = 0,
) -> None:
    """Write scikit-learn's handwritten digits as PNG class folders with a known share of wrong labels."""
    from labelfix.example import TRUTH_FILE, write_digits_example

    planted = write_digits_example(folder, noise=noise, seed=seed)
    console.print(f"Wrote {folder} with {planted} planted label errors (listed in {folder / TRUTH_FILE}).")


@example_app.command("check")
@_handles_errors
def example_check(
    folder: Annotated[Path, typer.Argument(help="The example dataset folder.")],
    run_dir: Annotated[Path, typer.Argument(help="The run folder of its scan.")],
) -> None:
    """Compare a scan's flags with the example's planted errors."""
    from labelfix.example import score_against_truth

    score = score_against_truth(folder, run_dir / "issues.csv")
    console.print(
        f"Found [bold]{score['found']}[/] of {score['planted']} planted errors "
        f"(recall {score['recall']:.0%}); {score['flagged']} images flagged "
        f"(precision {score['precision']:.0%}). Report: {run_dir / 'report.html'}",
        highlight=False,
    )


@app.command()
@_handles_errors
def review(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `labelfix scan`.")],
    host: Annotated[str, typer.Option(help="Address to bind; the default serves this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a web browser.")] = False,
    reviewer: Annotated[Optional[str], typer.Option(help="Name saved with each decision [default: your user name].")] = None,
) -> None:
    """Review the flagged images in a local web page: accept, keep, relabel or remove, from the keyboard."""
    import threading
    import webbrowser

    import uvicorn

    from labelfix.review import create_app

    _setup_logging(False)
    review_app = create_app(run_dir, reviewer)
    url = f"http://{host}:{port}/"
    session = review_app.state.session
    console.print(f"Reviewing [bold]{len(session.queue)}[/] images of {run_dir} at [bold]{url}[/] "
                  "(decisions are saved as you make them; Ctrl-C stops the server)", highlight=False)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(review_app, host=host, port=port, log_level="warning")


@app.command("apply")
@_handles_errors
def apply_command(
    run_dir: Annotated[Path, typer.Argument(help="The run folder a scan wrote (holds labelfix.db with the decisions).")],
    to: Annotated[Optional[Path], typer.Option("--to", help="New folder for the cleaned dataset (the original is only read).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="same, jsonl, csv or folders [same: the original's layout; file-name labels become labels.jsonl].")] = "same",
    images: Annotated[str, typer.Option(help="link (hard links; copies where links cannot be made) or copy the kept images into --to.")] = "link",
    accept_suggestions_above: Annotated[Optional[float], typer.Option(help="Also relabel undecided flagged images whose suggested label has at least this probability.")] = None,
    keep_unreadable: Annotated[bool, typer.Option("--keep-unreadable", help="Keep unreadable images (left out by default).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier apply output in --to.")] = False,
    in_place: Annotated[bool, typer.Option("--in-place", help="Change the original dataset instead (needs --yes-modify-my-dataset).")] = False,
    confirmed: Annotated[bool, typer.Option("--yes-modify-my-dataset", help="Confirm --in-place: move files / rewrite the label file after writing a backup.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each file moved.")] = False,
) -> None:
    """Write the cleaned dataset from the review decisions, with changes.csv listing every relabel and removal."""
    from labelfix.apply_files import apply_run
    from labelfix.apply_in_place import apply_in_place

    _setup_logging(verbose)
    if in_place == (to is not None):
        raise LabelfixError("give either --to OUT (a cleaned copy) or --in-place (change the original)")
    if in_place:
        if output_format != "same":
            raise LabelfixError("--in-place keeps the original's layout; leave out --format, or write a copy with --to")
        result = apply_in_place(run_dir, confirmed=confirmed, accept_suggestions_above=accept_suggestions_above,
                                keep_unreadable=keep_unreadable)
        _print_apply_counts(result.counts)
        console.print(f"Changed the original dataset ({result.moved} files moved). Backup manifest: [bold]{result.backup}[/]\n"
                      f"To undo: {result.undo}. Changes: {result.changes_file}. "
                      "Scan the dataset again before reviewing more.", highlight=False, soft_wrap=True)
        return
    result = apply_run(run_dir, to, output_format=output_format, images=images,
                       accept_suggestions_above=accept_suggestions_above, keep_unreadable=keep_unreadable,
                       overwrite=overwrite)
    _print_apply_counts(result.counts)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    console.print(f"Cleaned dataset ({result.output_format}): [bold]{result.out}[/]\n"
                  f"Read it with: {result.scan_command}", highlight=False, soft_wrap=True)


def _print_apply_counts(counts: dict[str, int]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("kept", str(counts["kept"]))
    table.add_row("relabelled by review", str(counts["relabelled_by_review"]))
    table.add_row("relabelled by suggestion", str(counts["relabelled_by_suggestion"]))
    table.add_row("removed by review", str(counts["removed_by_review"]))
    table.add_row("unreadable dropped", str(counts["unreadable_dropped"]))
    console.print(table)

# ---- training: train, lr-find, evaluate, predict, compare ----------------------------------------------------------

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Training YAML config; flags override it.")]
SeedOption = Annotated[Optional[int], typer.Option(help="Seed for the split, sampler, augmentation and initialisation [default: 0].")]
ModelOption = Annotated[Optional[str], typer.Option(help="Backbone: 'lite0' (embedded, offline), a timm name, or the architecture of --weights.")]
WeightsOption = Annotated[Optional[Path], typer.Option(help="Local weights file to start from (.pth/.safetensors).")]
ImageSizeOption = Annotated[Optional[int], typer.Option(help="Input side in pixels [default: the model's].")]
BatchSizeOption = Annotated[Optional[int], typer.Option(help="Images per batch [default: 32].")]


def _train_config(config: Path | None, overrides: dict):
    from labelfix.config import load_train_config

    return load_train_config(config, overrides)


@app.command()
@_handles_errors
def train(
    path: Annotated[Path, typer.Argument(help="Dataset folder or label file (any layout scan reads).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder [default: ./labelfix-runs/train-<dataset>].")] = None,
    config: ConfigOption = None,
    seed: SeedOption = None,
    model: ModelOption = None,
    weights: WeightsOption = None,
    image_size: ImageSizeOption = None,
    epochs: Annotated[Optional[int], typer.Option(help="All epochs, frozen ones included [default: 5].")] = None,
    freeze_epochs: Annotated[Optional[int], typer.Option(help="First epochs that train the head only [default: 1].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate of the head [default: the lr finder's suggestion].")] = None,
    scheduler: Annotated[Optional[str], typer.Option(help="one_cycle, cosine or plateau [default: one_cycle].")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="timm optimizer: adamw, sgd, radam, lookahead_adamw, ... [default: adamw].")] = None,
    batch_size: BatchSizeOption = None,
    accumulate_steps: Annotated[Optional[int], typer.Option(help="Batches per optimizer step [default: 1].")] = None,
    workers: WorkersOption = None,
    val_fraction: Annotated[Optional[float], typer.Option(help="Validation share when the dataset has no val split [default: 0.2].")] = None,
    split_file: Annotated[Optional[Path], typer.Option(help="split.csv of an earlier run: its images keep their split.")] = None,
    subset_fraction: Annotated[Optional[float], typer.Option(help="Train on a stratified, nested share of the training images.")] = None,
    balance: Annotated[Optional[bool], typer.Option("--balance", help="Weighted sampler: every class drawn equally often.")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="[default: 0.1]")] = None,
    mixup: Annotated[Optional[float], typer.Option(help="MixUp alpha [default: 0, off].")] = None,
    cutmix: Annotated[Optional[float], typer.Option(help="CutMix alpha [default: 0, off].")] = None,
    ema_decay: Annotated[Optional[float], typer.Option(help="EMA of the weights, e.g. 0.999 [default: 0, off].")] = None,
    tta: Annotated[Optional[bool], typer.Option("--tta", help="Evaluate with test-time augmentation (flips, crops).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto, fp32, bf16 or fp16 (mixed precision on CUDA only).")] = None,
    tensorboard: Annotated[Optional[bool], typer.Option("--tensorboard", help="Also log to <out>/tensorboard.")] = None,
    deterministic: Annotated[Optional[bool], typer.Option("--deterministic", help="Deterministic GPU kernels (slower).")] = None,
    device: DeviceOption = None,
    dataset_format: FormatOption = None,
    progress: ProgressOption = True,
    verbose: VerboseOption = False,
) -> None:
    """Fine-tune a classifier; write checkpoint.pt, metrics.csv, curves.png and evaluation.json into the run folder."""
    from labelfix.training.run import train as run_training

    _setup_logging(verbose)
    overrides = {
        "out": out, "seed": seed, "model.name": model, "model.weights": weights, "model.image_size": image_size,
        "schedule.epochs": epochs, "schedule.freeze_epochs": freeze_epochs, "schedule.lr": lr,
        "schedule.scheduler": scheduler, "schedule.accumulate_steps": accumulate_steps, "optimizer.name": optimizer,
        "data.batch_size": batch_size, "data.workers": workers, "data.val_fraction": val_fraction,
        "data.split_file": split_file, "data.subset_fraction": subset_fraction, "data.balance": balance,
        "regularization.label_smoothing": label_smoothing, "regularization.mixup": mixup, "regularization.cutmix": cutmix,
        "regularization.ema_decay": ema_decay, "evaluation.tta": tta, "precision": precision,
        "tensorboard": tensorboard, "deterministic": deterministic, "device": device, "dataset.format": dataset_format,
    }
    train_config = _train_config(config, overrides)
    with _progress_bars(progress and _is_main_process()) as bars:
        result = run_training(path, train_config, **({"progress": bars} if bars else {}))
    if not _is_main_process():
        return
    table = Table("epoch", "phase", "train loss", "val loss", "val acc", "lr", box=None, pad_edge=False)
    for row in result.metrics:
        table.add_row(str(row["epoch"]), row["phase"], *(f"{row[k]:.4g}" if isinstance(row.get(k), float) else ""
                                                        for k in ("train_loss", "val_loss", "val_accuracy", "lr")))
    console.print(table)
    if result.evaluation:
        console.print(f"Best epoch {result.evaluation['checkpoint_epoch']}: accuracy "
                      f"[bold]{result.evaluation['accuracy']:.2%}[/] on {result.evaluation['images']} validation images")
    console.print(f"Run folder: [bold]{result.run_dir}[/]", highlight=False)


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


@app.command("lr-find")
@_handles_errors
def lr_find(
    path: Annotated[Path, typer.Argument(help="Dataset folder or label file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG of loss against learning rate.")] = Path("lr_find.png"),
    config: ConfigOption = None,
    seed: SeedOption = None,
    model: ModelOption = None,
    weights: WeightsOption = None,
    image_size: ImageSizeOption = None,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    steps: Annotated[int, typer.Option(help="Learning rates tried (at most).")] = 100,
    device: DeviceOption = None,
    dataset_format: FormatOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Sweep the learning rate over a few batches; plot the loss curve with the suggested value marked."""
    from labelfix.training.run import lr_find as run_lr_find

    _setup_logging(verbose)
    overrides = {"seed": seed, "model.name": model, "model.weights": weights, "model.image_size": image_size,
                 "data.batch_size": batch_size, "data.workers": workers, "device": device, "dataset.format": dataset_format}
    sweep = run_lr_find(path, _train_config(config, overrides), out, steps=steps)
    console.print(f"Suggested learning rate: [bold]{sweep.suggestion:.2e}[/] (plot: {out})", highlight=False)


@app.command()
@_handles_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt of a training run.")],
    path: Annotated[Path, typer.Argument(help="Labelled dataset (any layout scan reads).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for evaluation.json and confusion_matrix.png.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Evaluate only items of this split (train, val, test) of the dataset.")] = None,
    tta: Annotated[bool, typer.Option("--tta", help="Average over flips and zoomed crops.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 32,
    workers: Annotated[int, typer.Option(help="Image-decoding worker processes.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dataset_format: Annotated[str, typer.Option("--format", help="Dataset layout.")] = "auto",
    progress: ProgressOption = True,
) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of a checkpoint on a labelled dataset."""
    from labelfix.models.infer import resolve_device
    from labelfix.training.run import evaluate_dataset

    with _progress_bars(progress) as bars:
        summary = evaluate_dataset(checkpoint, path, out, split=split, dataset_format=dataset_format, tta=tta,
                                   batch_size=batch_size, workers=workers, device=resolve_device(device),
                                   **({"progress": bars} if bars else {}))
    console.print(f"accuracy [bold]{summary['accuracy']:.2%}[/] on {summary['images']} images"
                  + (f", top-5 {summary['top5_accuracy']:.2%}" if "top5_accuracy" in summary else ""))
    for pair in summary["most_confused"][:5]:
        console.print(f"  {pair['true']} → {pair['predicted']}: {pair['count']}", highlight=False)
    if out is not None:
        console.print(f"Wrote {out / 'evaluation.json'} and {out / 'confusion_matrix.png'}", highlight=False)


@app.command()
@_handles_errors
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt of a training run.")],
    images: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write predictions to this .csv or .json file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Most probable classes listed per image.")] = 5,
    tta: Annotated[bool, typer.Option("--tta", help="Average over flips and zoomed crops.")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 32,
    workers: Annotated[int, typer.Option(help="Image-decoding worker processes.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    progress: ProgressOption = True,
) -> None:
    """Class and top-k probabilities for each image; a table, or CSV / JSON with --output."""
    from labelfix.errors import ConfigError
    from labelfix.fileio import write_text_atomic
    from labelfix.models.infer import resolve_device
    from labelfix.training.checkpoint import load_checkpoint
    from labelfix.training.predict import image_files, predict_files, predictions_csv, predictions_json

    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--output {output}: use a .csv or .json file name")
    device_used = resolve_device(device)
    model = load_checkpoint(checkpoint, device_used)
    with _progress_bars(progress) as bars:
        rows = predict_files(model, image_files(images), k=top_k, tta=tta, batch_size=batch_size, workers=workers,
                             device=device_used, **({"progress": bars} if bars else {}))
    if output is not None:
        write_text_atomic(output, predictions_json(rows) if output.suffix.lower() == ".json" else predictions_csv(rows))
        console.print(f"Wrote {len(rows)} predictions to {output}", highlight=False)
        return
    table = Table("image", "class", "probability", f"top {top_k}", box=None, pad_edge=False)
    for row in rows:
        ranked = ", ".join(f"{name} {p:.2f}" for name, p in row["top_k"])
        table.add_row(row["path"], row["class"] or f"[red]{row['error']}[/]",
                      "" if row["probability"] is None else f"{row['probability']:.3f}", ranked)
    console.print(table)


@app.command()
@_handles_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Training run folders.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the table as CSV.")] = None,
) -> None:
    """Tabulate training runs: the config keys that differ, and final / best validation metrics."""
    import pandas as pd

    from labelfix.fileio import write_text_atomic
    from labelfix.training.compare import comparison, read_run

    columns, rows = comparison([read_run(run) for run in runs])
    table = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    console.print(table)
    if output is not None:
        write_text_atomic(output, pd.DataFrame(rows, columns=columns).to_csv(index=False))
        console.print(f"Wrote {output}", highlight=False)
