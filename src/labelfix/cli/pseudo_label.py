"""`labelfix pseudo-label`: labels for unlabelled images from trained checkpoints, at an asked precision per class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labelfix.cli.common import (
    BatchSizeOption,
    DeviceOption,
    JsonOption,
    ProgressOption,
    TtaOption,
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
def pseudo_label(
    inputs: Annotated[list[Path], typer.Argument(metavar="CHECKPOINTS... POOL", exists=True, help="One or more checkpoint.pt of `labelfix train` runs, then the folder of unlabelled images.")],
    to: Annotated[Path, typer.Option("--to", help="Folder for the kept images (<class>/), labels.jsonl, summary.csv and pseudo.html.")],
    precision: Annotated[float, typer.Option(min=0.5, max=1.0, help="Estimated precision each class's kept pseudo-labels must reach on validation images.")] = 0.95,
    tta: TtaOption = False,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Label the images of POOL with the checkpoints (averaged) where a per-class threshold, chosen on each run's
    validation images, promises the asked precision; then `labelfix train DATA --extra TO/labels.jsonl`."""
    from labelfix.errors import ConfigError
    from labelfix.pseudo import pseudo_label as run
    from labelfix.pseudo import write_pseudo_labels
    from labelfix.training.predict import image_files

    checkpoints, rest = leading_checkpoints(inputs)
    if not checkpoints or len(rest) != 1 or not rest[0].is_dir():
        raise ConfigError("give one or more checkpoint.pt files, then the folder of unlabelled images")
    pool = rest[0]
    with progress_bars(progress) as bars:
        result = run(checkpoints, image_files([pool]), precision, tta=tta, **inference_options(batch_size, workers, device),
                     **bars)
    rows = write_pseudo_labels(result, to)
    if as_json:
        print_json({"folder": str(to), "pool": len(result.files), "classes": rows})
        return
    table = Table("class", "predicted", "kept", "threshold", "estimated precision", box=None, pad_edge=False)
    for row in rows:
        table.add_row(shown(row["class"]), str(row["predicted"]), str(row["kept"]),
                      "–" if row["threshold"] is None else f"{row['threshold']:.3f}",
                      "–" if row["estimated_precision"] is None else f"{row['estimated_precision']:.3f}")
    results_console().print(table)
    empty = [row["class"] for row in rows if row["threshold"] is None]
    if empty:
        console.print(f"[yellow]note:[/] no threshold reaches precision {precision} for {shown(', '.join(empty))}: "
                      "those classes keep nothing", highlight=False)
    console.print(f"Look at {shown(to / 'pseudo.html')} first, then: labelfix train DATA --extra "
                  f"{shown(to / 'labels.jsonl')}", highlight=False)
