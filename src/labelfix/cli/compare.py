"""`labelfix compare`: training runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import console, handles_errors


@handles_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Training run folders.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the table as CSV.")] = None,
) -> None:
    """Tabulate training runs: the config keys that differ, and final / best validation metrics."""
    import pandas as pd

    from labelfix.fileio import write_text_atomic
    from labelfix.spreadsheet import safe_table
    from labelfix.training.compare import comparison, read_run

    columns, rows = comparison([read_run(run) for run in runs])
    table = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    console.print(table)
    if output is not None:
        write_text_atomic(output, safe_table(pd.DataFrame(rows, columns=columns)).to_csv(index=False))
        console.print(f"Wrote {output}", highlight=False)
