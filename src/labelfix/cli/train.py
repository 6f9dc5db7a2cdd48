"""`labelfix train`: fine-tune a classifier and write its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelfix.cli.common import (
    BatchSizeOption,
    ConfigOption,
    DeviceOption,
    FormatOption,
    ImageSizeOption,
    ModelOption,
    ProgressOption,
    SeedOption,
    SetOption,
    VerboseOption,
    WeightsOption,
    WorkersOption,
    console,
    handles_errors,
    is_main_process,
    progress_bars,
    results_console,
    setup_logging,
    shown,
    with_settings,
)


@handles_errors
def train(
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, help="Dataset folder or label file (any layout scan reads).")],
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
    extra: Annotated[Optional[list[Path]], typer.Option("--extra", exists=True, help="More labelled images for training only, never validation: a label file or folder (e.g. pseudo/labels.jsonl); repeatable.")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="Share of each target spread over the other classes [default: 0.1].")] = None,
    mixup: Annotated[Optional[float], typer.Option(help="MixUp alpha [default: 0, off].")] = None,
    cutmix: Annotated[Optional[float], typer.Option(help="CutMix alpha [default: 0, off].")] = None,
    ema_decay: Annotated[Optional[float], typer.Option(help="EMA of the weights, e.g. 0.999 [default: 0, off].")] = None,
    tta: Annotated[Optional[bool], typer.Option("--tta", help="Evaluate with test-time augmentation (flips, crops).")] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto, fp32, bf16 or fp16 (auto: bf16 or fp16 on CUDA, bf16 on CPUs with native bf16, else fp32; fp16 on CUDA only).")] = None,
    tensorboard: Annotated[Optional[bool], typer.Option("--tensorboard", help="Also log to <out>/tensorboard.")] = None,
    deterministic: Annotated[Optional[bool], typer.Option("--deterministic", help="Deterministic GPU kernels (slower).")] = None,
    device: DeviceOption = None,
    dataset_format: FormatOption = None,
    progress: ProgressOption = True,
    settings: SetOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Fine-tune a classifier; write checkpoint.pt, metrics.csv, curves.png and evaluation.json into the run folder."""
    from labelfix.config import load_train_config
    from labelfix.training.train import train as run_training

    setup_logging(verbose)
    overrides = {
        "out": out, "seed": seed, "model.name": model, "model.weights": weights, "model.image_size": image_size,
        "schedule.epochs": epochs, "schedule.freeze_epochs": freeze_epochs, "schedule.lr": lr,
        "schedule.scheduler": scheduler, "schedule.accumulate_steps": accumulate_steps, "optimizer.name": optimizer,
        "data.batch_size": batch_size, "data.workers": workers, "data.val_fraction": val_fraction,
        "data.split_file": split_file, "data.subset_fraction": subset_fraction, "data.balance": balance, "data.extra": extra,
        "regularization.label_smoothing": label_smoothing, "regularization.mixup": mixup, "regularization.cutmix": cutmix,
        "regularization.ema_decay": ema_decay, "evaluation.tta": tta, "precision": precision,
        "tensorboard": tensorboard, "deterministic": deterministic, "device": device, "dataset.format": dataset_format,
    }
    train_config = load_train_config(config, *with_settings(overrides, settings, {"model.name": "--model"}))
    with progress_bars(progress and is_main_process()) as bars:
        result = run_training(path, train_config, on_epoch=_print_epoch, **bars)
    if not is_main_process():
        return
    results = results_console()
    if result.evaluation:
        evaluation = result.evaluation
        measured = (f"mAP [bold]{evaluation['map']:.2%}[/], micro F1 {evaluation['micro_f1']:.2%} at per-class "
                    "thresholds chosen on them" if evaluation.get("multilabel") else
                    f"accuracy [bold]{evaluation['accuracy']:.2%}[/]")
        results.print(f"Best epoch {evaluation['checkpoint_epoch']}: {measured} on {evaluation['images']} validation images")
    results.print(f"Run folder: [bold]{shown(result.run_dir)}[/] (metrics.csv, curves.png, checkpoint.pt)", highlight=False)


def _print_epoch(row: dict) -> None:
    """One line per epoch as it ends (stderr, beside the progress bars; metrics.csv has them all)."""
    def number(key: str, form: str) -> str:
        return format(row[key], form) if isinstance(row.get(key), float) else "–"

    console.print(f"epoch {row['epoch']}/{row['epochs']} {row['phase']:<8} train loss {number('train_loss', '.4f')}  "
                  f"val loss {number('val_loss', '.4f')}  val acc {number('val_accuracy', '.2%')}  "
                  + (f"val mAP {number('val_map', '.2%')}  " if "val_map" in row else "") + f"peak lr {number('peak_lr', '.2e')}  {row['seconds']:.1f} s", highlight=False)
