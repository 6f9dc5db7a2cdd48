"""`labelfix example`: bundled example datasets with known label errors, and scoring a scan against them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelfix.cli.common import console, handles_errors, results_console


@handles_errors
def digits(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Where to write the example dataset.")],
    noise: Annotated[float, typer.Option(help="Share of labels to flip.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed for which labels are flipped.")] = 0,
) -> None:
    """Write scikit-learn's handwritten digits as PNG class folders with a known share of wrong labels."""
    from labelfix.example import TRUTH_FILE, write_digits_example

    planted = write_digits_example(folder, noise=noise, seed=seed)
    console.print(f"Wrote {folder} with {planted} planted label errors (listed in {folder / TRUTH_FILE}).")


@handles_errors
def check(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", exists=True, help="The example dataset folder.")],
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", exists=True, help="The run folder of its scan.")],
) -> None:
    """Compare a scan's flags with the example's planted errors."""
    from labelfix.example import score_against_truth

    score = score_against_truth(folder, run_dir / "issues.csv")
    results_console().print(
        f"Found [bold]{score['found']}[/] of {score['planted']} planted errors "
        f"(recall {score['recall']:.0%}); {score['flagged']} images flagged "
        f"(precision {score['precision']:.0%}). Report: {run_dir / 'report.html'}",
        highlight=False,
    )
