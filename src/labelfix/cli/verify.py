"""`labelfix verify`: the files of a folder that do not decode or fail the scan's checks; exit 1 when there are any."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import (
    JsonOption,
    ProgressOption,
    WorkersOption,
    console,
    handles_errors,
    print_json,
    progress_bars,
    results_console,
    shown,
)


@handles_errors
def verify(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", exists=True, file_okay=False, help="The folder of images to check (searched recursively).")],
    move_bad_to: Annotated[Optional[Path], typer.Option("--move-bad-to", help="Move the bad files into this folder (outside the dataset), keeping their paths; moved.csv there lists every move. Nothing is deleted.")] = None,
    max_size: Annotated[Optional[int], typer.Option(help="Also list the sound images with a side longer than this many pixels.")] = None,
    resize: Annotated[bool, typer.Option("--resize", help="Shrink the images over --max-size in place (their longer side becomes --max-size, same format). Changes your files.")] = False,
    workers: WorkersOption = None,
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Decode every image under FOLDER and list those a scan would call unreadable or invalid (exit 1 if any, like a linter)."""
    from labelfix.errors import ConfigError
    from labelfix.verify import move_bad_files, oversize, shrink_in_place, verify_folder

    if resize and max_size is None:
        raise ConfigError("--resize needs --max-size PX (the longest side to keep)")
    with progress_bars(progress) as bars:
        checks = verify_folder(folder, workers=workers, **bars)
    bad = [check for check in checks if check.bad]
    large = oversize(checks, max_size) if max_size is not None else []
    moved_to = move_bad_files(bad, folder, move_bad_to) if move_bad_to is not None and bad else None
    resized = shrink_in_place(large, max_size) if resize else 0
    if as_json:
        print_json({"files": len(checks), "bad": [{"path": c.relative, "kind": c.kind, "problem": c.problem} for c in bad],
                    "oversize": [c.relative for c in large], "resized": resized,
                    "moved_listing": str(moved_to) if moved_to else None})
    else:
        _print(checks, bad, large, resized, moved_to)
    if bad:
        raise typer.Exit(1)


def _print(checks, bad, large, resized, moved_to) -> None:
    results = results_console()
    table = Table("file", "problem", box=None, pad_edge=False)
    for check in bad:
        table.add_row(shown(check.relative), f"{check.kind}: {shown(check.problem)}")
    for check in large:
        table.add_row(shown(check.relative), f"oversize: {check.width}x{check.height}" + (" (resized)" if resized else ""))
    if bad or large:
        results.print(table)
    unreadable = sum(check.kind == "unreadable" for check in bad)
    results.print(f"{len(checks)} image files: {len(checks) - len(bad)} sound, {unreadable} unreadable, "
                  f"{len(bad) - unreadable} invalid" + (f", {len(large)} over the size limit" if large else ""),
                  highlight=False)
    if moved_to is not None:
        console.print(f"Moved {len(bad)} bad files; the list is in {shown(moved_to)}", highlight=False)
