"""`labelfix evaluate`: a checkpoint's accuracy, per-class metrics and confusion matrix on a labelled dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelfix.cli.common import (
    BatchSizeOption,
    DeviceOption,
    FormatOption,
    JsonOption,
    ProgressOption,
    TtaOption,
    WorkersOption,
    console,
    handles_errors,
    print_json,
    progress_bars,
    results_console,
    shown,
)


@handles_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", exists=True, help="checkpoint.pt of a training run.")],
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, help="Labelled dataset (any layout scan reads).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for evaluation.json and confusion_matrix.png.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Evaluate only items of this split (train, val, test) of the dataset.")] = None,
    tta: TtaOption = False,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    dataset_format: FormatOption = None,
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of a checkpoint on a labelled dataset."""
    from labelfix.devices import default_workers, resolve_device
    from labelfix.training.evaluate import evaluate_dataset

    with progress_bars(progress) as bars:
        summary = evaluate_dataset(checkpoint, path, out, split=split, dataset_format=dataset_format or "auto", tta=tta,
                                   batch_size=batch_size or 32,
                                   workers=default_workers() if workers is None else workers,
                                   device=resolve_device(device or "auto"), **bars)
    if as_json:
        print_json(summary)
    else:
        results = results_console()
        results.print(f"accuracy [bold]{summary['accuracy']:.2%}[/] on {summary['images']} images"
                      + (f", top-5 {summary['top5_accuracy']:.2%}" if "top5_accuracy" in summary else ""))
        for pair in summary["most_confused"][:5]:
            results.print(f"  {shown(pair['true'])} → {shown(pair['predicted'])}: {pair['count']}", highlight=False)
    if out is not None:
        console.print(f"Wrote {out / 'evaluation.json'} and {out / 'confusion_matrix.png'}", highlight=False)
