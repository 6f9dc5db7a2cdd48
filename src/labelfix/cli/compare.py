"""`labelfix compare`: training runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import console, handles_errors, results_console


@handles_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(metavar="RUNS", exists=True, help="Training run folders, and evaluation folders of `labelfix evaluate --out` (an ensemble's shows its members).")],
    output: Annotated[Optional[Path], typer.Option("--output", help="Also write the table to this CSV file.")] = None,
) -> None:
    """Tabulate training runs: the config keys that differ, and final / best validation metrics; evaluations of
    ensembles beside them, with each member's accuracy."""
    import pandas as pd

    from labelfix.fileio import write_text_atomic
    from labelfix.spreadsheet import safe_table
    from labelfix.training.compare import comparison, read_run

    columns, rows = comparison([read_run(run) for run in runs])
    table = Table(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, min_width=len(column))  # headers whole, never "final_val…"
    for row in rows:
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else "-" if row[c] is None else str(row[c])
                        for c in columns))
    results_console().print(table)
    if output is not None:
        table = pd.DataFrame([[row[c] for c in columns] for row in rows], columns=columns, dtype=object)
        write_text_atomic(output, safe_table(table).to_csv(index=False))
        console.print(f"Wrote {output}", highlight=False)
