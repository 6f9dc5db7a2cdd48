"""`labelfix apply`: write the cleaned dataset from the review decisions (a copy, or in place when confirmed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import VerboseOption, console, handles_errors, setup_logging, shown
from labelfix.errors import LabelfixError


@handles_errors
def apply(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", exists=True, help="The run folder a scan wrote (holds labelfix.db with the decisions).")],
    to: Annotated[Optional[Path], typer.Option("--to", help="New folder for the cleaned dataset (the original is only read).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="same, jsonl, csv or folders [same: the original's layout; file-name labels become labels.jsonl].")] = "same",
    images: Annotated[str, typer.Option(help="link (hard links; copies where links cannot be made) or copy the kept images into --to.")] = "link",
    accept_suggestions_above: Annotated[Optional[float], typer.Option(help="Also relabel undecided flagged images whose suggested label has at least this probability.")] = None,
    keep_unreadable: Annotated[bool, typer.Option("--keep-unreadable", help="Keep unreadable images (left out by default).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier apply output in --to.")] = False,
    in_place: Annotated[bool, typer.Option("--in-place", help="Change the original dataset instead (needs --yes-modify-my-dataset).")] = False,
    confirmed: Annotated[bool, typer.Option("--yes-modify-my-dataset", help="Confirm --in-place: move files / rewrite the label file after writing a backup.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Write the cleaned dataset from the review decisions, with changes.csv listing every relabel and removal."""
    from labelfix.apply import apply_in_place, apply_run

    setup_logging(verbose)
    if in_place == (to is not None):
        raise LabelfixError("give either --to OUT (a cleaned copy) or --in-place (change the original)")
    if in_place:
        if output_format != "same":
            raise LabelfixError("--in-place keeps the original's layout; leave out --format, or write a copy with --to")
        result = apply_in_place(run_dir, confirmed=confirmed, accept_suggestions_above=accept_suggestions_above,
                                keep_unreadable=keep_unreadable)
        _print_counts(result.counts)
        console.print(f"Changed the original dataset ({result.moved} files moved). Backup manifest: [bold]{shown(result.backup)}[/]\n"
                      f"To undo: {shown(result.undo)}. Changes: {shown(result.changes_file)}. "
                      "Scan the dataset again before reviewing more.", highlight=False, soft_wrap=True)
        _print_notes(result.notes)
        return
    result = apply_run(run_dir, to, output_format=output_format, images=images,
                       accept_suggestions_above=accept_suggestions_above, keep_unreadable=keep_unreadable,
                       overwrite=overwrite)
    _print_counts(result.counts)
    _print_notes(result.notes)
    console.print(f"Cleaned dataset ({result.output_format}): [bold]{shown(result.out)}[/]\n"
                  f"Read it with: {shown(result.scan_command)}", highlight=False, soft_wrap=True)


def _print_counts(counts: dict[str, int]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    for key in ("kept", "relabelled_by_review", "relabelled_by_suggestion", "removed_by_review", "unreadable_dropped",
                "flags_left_undecided"):
        table.add_row(key.replace("_", " "), str(counts[key]))
    console.print(table)


def _print_notes(notes) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/] {shown(note)}", highlight=False, soft_wrap=True)
