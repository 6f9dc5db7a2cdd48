"""`labelfix download`: images from URL lists into class folders, verified, deduplicated, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from labelfix.cli.common import (
    JsonOption,
    ProgressOption,
    console,
    handles_errors,
    print_json,
    progress_bars,
    results_console,
    shown,
)


@handles_errors
def download(
    lists: Annotated[list[Path], typer.Argument(metavar="URL_LISTS", exists=True, dir_okay=False, help="urls_<class>.txt files (one URL a line), or a CSV (url,label) or JSONL ({\"url\", \"label\"}).")],
    to: Annotated[Path, typer.Option("--to", help="Dataset folder to fill: <class>/<content hash>.<ext>, and sources.jsonl.")],
    max_pics: Annotated[Optional[int], typer.Option(help="Keep at most this many images per class [default: all].")] = None,
    max_size: Annotated[Optional[int], typer.Option(help="Shrink images with a longer side to this many pixels on the way in (same format) [default: keep as downloaded].")] = None,
    max_bytes: Annotated[int, typer.Option(help="Refuse files larger than this many bytes.")] = 20 * 2**20,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a server.")] = 20.0,
    retries: Annotated[int, typer.Option(help="More tries after a 429, a 5xx or a dropped connection (waiting 1, 2, 4 ... s).")] = 3,
    workers: Annotated[int, typer.Option(help="Downloads at once.")] = 8,
    per_host: Annotated[int, typer.Option(help="Downloads at once from one host.")] = 4,
    progress: ProgressOption = True,
    as_json: JsonOption = False,
) -> None:
    """Download, verify (a full decode) and keep images from URL lists; a second run skips what is done."""
    from labelfix.download import Limits, download, read_sources, summary

    sources = read_sources(lists)
    limits = Limits(timeout=timeout, max_bytes=max_bytes, retries=retries, per_host=per_host, max_side=max_size)
    with progress_bars(progress) as bars:
        outcomes = download(sources, to, limits, workers=workers, max_per_class=max_pics, **bars)
    by_status, per_class = summary(outcomes)
    if as_json:
        print_json({"folder": str(to), "urls": len(outcomes), "by_status": dict(by_status), "kept_per_class": dict(per_class)})
        return
    results = results_console()
    table = Table("outcome", "URLs", box=None, pad_edge=False)
    for status, count in by_status.most_common():
        table.add_row(status, str(count))
    results.print(table)
    results.print("kept per class: " + ", ".join(f"{shown(label)} {count}" for label, count in sorted(per_class.items())),
                  highlight=False)
    console.print(f"Every URL's outcome is in {shown(to / 'sources.jsonl')}; next: labelfix verify {shown(to)}, "
                  f"then labelfix scan {shown(to)}", highlight=False)
