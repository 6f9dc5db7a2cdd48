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
    VoteOption,
    WorkersOption,
    console,
    handles_errors,
    inference_options,
    leading_checkpoints,
    print_json,
    progress_bars,
    results_console,
    shown,
)


@handles_errors
def evaluate(
    inputs: Annotated[list[Path], typer.Argument(metavar="CHECKPOINTS... DATASET", exists=True, help="One or more checkpoint.pt of training runs (several vote, see --vote), then the labelled dataset (any layout scan reads).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for evaluation.json and confusion_matrix.png.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Evaluate only items of this split (train, val, test) of the dataset.")] = None,
    tta: TtaOption = False,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    dataset_format: FormatOption = None,
    vote: VoteOption = "soft",
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of a checkpoint, or of several voting (each
    member's accuracy beside), on a labelled dataset."""
    from labelfix.errors import ConfigError
    from labelfix.training.evaluate import evaluate_dataset

    checkpoints, rest = leading_checkpoints(inputs)
    if not checkpoints or len(rest) != 1:
        raise ConfigError("give one or more checkpoint.pt files, then one labelled dataset")
    path = rest[0]

    with progress_bars(progress) as bars:
        summary = evaluate_dataset(checkpoints, path, out, split=split, dataset_format=dataset_format or "auto", tta=tta,
                                   vote=vote, **inference_options(batch_size, workers, device), **bars)
    if as_json:
        print_json(summary)
    elif summary.get("multilabel"):
        results = results_console()
        results.print(f"mAP [bold]{summary['map']:.2%}[/], micro F1 {summary['micro_f1']:.2%}, macro F1 "
                      f"{summary['macro_f1']:.2%} on {summary['images']} images (per-class thresholds)")
        for name, row in summary["per_class"].items():
            results.print(f"  {shown(name)}: precision {row['precision']:.2%} recall {row['recall']:.2%} AP "
                          + (f"{row['ap']:.2%}" if row["ap"] is not None else "-") + f" at {row['threshold']:.2f}",
                          highlight=False)
        for member in summary.get("members", []):
            results.print(f"  member {shown(member['checkpoint'])}: mAP {member['map']:.2%}", highlight=False)
    else:
        results = results_console()
        results.print(f"accuracy [bold]{summary['accuracy']:.2%}[/] on {summary['images']} images"
                      + (f", top-5 {summary['top5_accuracy']:.2%}" if "top5_accuracy" in summary else ""))
        for member in summary.get("members", []):
            results.print(f"  member {shown(member['checkpoint'])}: accuracy {member['accuracy']:.2%}", highlight=False)
        for pair in summary["most_confused"][:5]:
            results.print(f"  {shown(pair['true'])} → {shown(pair['predicted'])}: {pair['count']}", highlight=False)
    if out is not None:
        written = [out / "evaluation.json", *([] if summary.get("multilabel") else [out / "confusion_matrix.png"])]
        console.print(f"Wrote {' and '.join(map(str, written))}", highlight=False)
