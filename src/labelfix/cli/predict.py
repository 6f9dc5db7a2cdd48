"""`labelfix predict`: class and top-k probabilities of a checkpoint for image files or folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import (
    BatchSizeOption,
    DeviceOption,
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
from labelfix.errors import ConfigError


@handles_errors
def predict(
    inputs: Annotated[list[Path], typer.Argument(metavar="CHECKPOINTS... IMAGES...", exists=True, help="One or more checkpoint.pt of training runs (several vote, see --vote), then image files and/or folders (searched recursively).")],
    output: Annotated[Optional[Path], typer.Option("--output", help="Write predictions to this .csv or .json file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Most probable classes listed per image.")] = 5,
    tta: TtaOption = False,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = None,
    device: DeviceOption = None,
    vote: VoteOption = "soft",
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Class and top-k probabilities for each image: a table on stdout (JSON with --json), or a CSV / JSON file
    with --output."""
    from labelfix.fileio import write_text_atomic
    from labelfix.training.ensemble import load_members
    from labelfix.training.predict import image_files, predict_files, predictions_csv, predictions_json

    checkpoints, images = leading_checkpoints(inputs)
    if not checkpoints or not images:
        raise ConfigError("give one or more checkpoint.pt files, then the images (files or folders)")

    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--output {output}: use a .csv or .json file name")
    options = inference_options(batch_size, workers, device)
    members = load_members(checkpoints, options["device"])
    with progress_bars(progress) as bars:
        rows = predict_files(members, image_files(images), k=top_k, vote=vote, tta=tta, **options, **bars)
    if output is not None:
        write_text_atomic(output, predictions_json(rows) if output.suffix.lower() == ".json" else predictions_csv(rows))
        console.print(f"Wrote {len(rows)} predictions to {output}", highlight=False)
        return
    if as_json:
        print_json(rows)
        return
    table = Table("image", "class", "probability", f"top {top_k}", box=None, pad_edge=False)
    for row in rows:
        ranked = ", ".join(f"{shown(name)} {p:.2f}" for name, p in row["top_k"])
        table.add_row(shown(row["path"]), shown(row["class"]) if row["class"] else f"[red]{shown(row['error'])}[/]",
                      "" if row["probability"] is None else f"{row['probability']:.3f}", ranked)
    results_console().print(table)
