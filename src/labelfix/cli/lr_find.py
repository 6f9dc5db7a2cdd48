"""`labelfix lr-find`: sweep the learning rate over a few batches and plot the loss curve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelfix.cli.common import (
    BatchSizeOption,
    ConfigOption,
    DeviceOption,
    FormatOption,
    ImageSizeOption,
    ModelOption,
    SeedOption,
    VerboseOption,
    WeightsOption,
    WorkersOption,
    handles_errors,
    results_console,
    setup_logging,
    shown,
)


@handles_errors
def lr_find(
    path: Annotated[Path, typer.Argument(metavar="PATH", exists=True, help="Dataset folder or label file.")],
    output: Annotated[Path, typer.Option("--output", help="PNG file of the loss against the learning rate.")] = Path("lr_find.png"),
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
    from labelfix.config import load_train_config
    from labelfix.training.lr_finder import lr_find as run_lr_find

    setup_logging(verbose)
    overrides = {"seed": seed, "model.name": model, "model.weights": weights, "model.image_size": image_size,
                 "data.batch_size": batch_size, "data.workers": workers, "device": device, "dataset.format": dataset_format}
    sweep = run_lr_find(path, load_train_config(config, overrides), output, steps=steps)
    results_console().print(f"Suggested learning rate: [bold]{sweep.suggestion:.2e}[/] (plot: {shown(output)})", highlight=False)
