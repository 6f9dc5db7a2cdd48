"""What every command shares: the console, progress bars, logging, error handling and the common options.

The `cli` package is the only code that prints. Commands import the library inside their bodies, so that
`--help` and argument errors answer without loading torch.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from labelfix.errors import ConfigError, LabelfixError
from labelfix.features.cache import default_cache_dir
from labelfix.fileio import printable

console = Console(stderr=True)  # progress, logs, errors and messages: stderr, so results can be piped


def results_console() -> Console:
    """Where a command's results go: stdout; piped, never cut to the width of a terminal there is not."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)


def with_settings(overrides: dict, settings: list[str] | None, renamed: dict[str, str] | None = None
                  ) -> tuple[dict, dict[str, str]]:
    """Config overrides from the command line: the flags' values with the `--set` ones added, and the flag that
    gave each key (`--batch-size` for embedding.batch_size, or as `renamed`), for error messages to name."""
    import yaml

    flags = {key: (renamed or {}).get(key, "--" + key.rsplit(".", 1)[-1].replace("_", "-"))
             for key, value in overrides.items() if value is not None}
    merged = dict(overrides)
    for setting in settings or []:
        key, equals, text = setting.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"--set {setting}: write section.key=value (e.g. --set crossval.head=mlp)")
        try:
            merged[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {setting}: the value is not valid YAML") from None
        flags[key.strip()] = f"--set {key.strip()}"
    return merged, flags


def inference_options(batch_size: int | None, workers: int | None, device: str | None) -> dict:
    """batch_size, workers and device for a command that runs checkpoints, their defaults filled in."""
    from labelfix.devices import default_batch_size, default_workers, resolve_device

    resolved = resolve_device(device or "auto")
    return {"batch_size": batch_size or default_batch_size(resolved, cpu=32), "device": resolved,
            "workers": default_workers() if workers is None else workers}


CHECKPOINT_SUFFIXES = (".pt", ".pth")


def leading_checkpoints(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """The checkpoint files at the start of `paths` (an ensemble), and the rest."""
    count = next((i for i, path in enumerate(paths) if path.suffix.lower() not in CHECKPOINT_SUFFIXES), len(paths))
    return paths[:count], paths[count:]


def print_json(data: object) -> None:
    """`data` as JSON on stdout (`--json`)."""
    import json
    import sys

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# options shared by several commands: one name, one meaning, one default
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config; flags override it.")]
SeedOption = Annotated[Optional[int], typer.Option(help="Seed for every random choice (folds, splits, initialisation) [default: 0].")]
ModelOption = Annotated[Optional[str], typer.Option(help="Backbone: 'lite0' (embedded, offline; 'lite1', 'lite2' with labelfix[lite]), a timm model name, or the architecture of --weights.")]
WeightsOption = Annotated[Optional[Path], typer.Option(help="Local weights file for --model (.pth/.safetensors).")]
ImageSizeOption = Annotated[Optional[int], typer.Option(help="Input side in pixels [default: the model's].")]
BatchSizeOption = Annotated[Optional[int], typer.Option(help="Images per batch [default on a CPU: 32, scan 64; on CUDA: train 128, scan and predict 512].")]
WorkersOption = Annotated[Optional[int], typer.Option(help="Image-decoding worker processes [default: one per core; above 4 cores, one left to the main process; at most 16].")]
DeviceOption = Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N [default: auto].")]
FormatOption = Annotated[Optional[str], typer.Option("--format", help="Dataset layout: auto, folders, jsonl, csv or regex [default: auto].")]
TtaOption = Annotated[bool, typer.Option("--tta", help="Average predictions over flips and zoomed crops.")]
ProgressOption = Annotated[bool, typer.Option(help="Show progress bars.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", metavar="SECTION.KEY=VALUE", help="Any config value (a YAML value; repeatable), e.g. --set checks.near_duplicate.threshold=0.2; see the README's Configuration.")]
VoteOption = Annotated[str, typer.Option("--vote", help="How several checkpoints decide: soft (their probabilities averaged) or hard (majority of their top classes).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout (messages stay on stderr).")]


class RichProgress:
    """Progress bars for the library's `progress.task(...)` hooks."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        task_id = self.progress.add_task(description, total=total)
        yield lambda steps=1: self.progress.advance(task_id, steps)
        if total is not None:
            self.progress.update(task_id, completed=total)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[dict]:
    """Keyword arguments for a library call: `{"progress": bars}` while bars are shown, else `{}`."""
    if not enabled:
        yield {}
        return
    columns = (TextColumn("{task.description:>15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield {"progress": RichProgress(progress)}


def shown(value: object) -> str:
    """User data (a path, a label, a message naming them) as console text: not read as rich markup (a file named
    `[/].png`), and a non-UTF-8 file name with \\xNN escapes."""
    return escape(printable(str(value)))


class _PrintableRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(record.getMessage()), None
        return True


def setup_logging(verbose: bool) -> None:
    handler = RichHandler(console=console, show_time=False, show_path=False)  # markup off: messages stay as written
    handler.addFilter(_PrintableRecords())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler],
                        force=True)


def handles_errors(command: Callable) -> Callable:
    """Map LabelfixError to its message and exit code 1; other errors to a crash log a user can attach."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LabelfixError as error:
            console.print(f"[bold red]error:[/] {shown(error)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: nothing was half-written; run the same command again to resume")
            raise typer.Exit(130) from None
        except typer.Exit:
            raise  # a command's own exit code (verify: 1 when a file is bad)
        except Exception as error:  # noqa: BLE001
            message = storage_failure(error)
            if message:
                console.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            console.print(f"[bold red]unexpected error:[/] {type(error).__name__}: {shown(error)}\n{_crash_log()}",
                          highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_failure(error: Exception) -> str | None:
    """What to tell the user when a disk is full or a folder cannot be written; None for other errors."""
    where = ""
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
        reason, where = error.strerror, f" ({error.filename})" if error.filename else ""
    elif isinstance(error, sqlite3.OperationalError) and any(
            words in str(error) for words in ("disk is full", "readonly", "unable to open")):
        reason = str(error)
    else:
        return None
    return (f"{reason}{where}: free some space or choose another folder (--out, --cache-dir); what labelfix writes "
            "is complete or absent, so earlier results are as they were and the same command resumes")


def _crash_log() -> str:
    """Save the traceback where a bug report can attach it; says where (or why it could not)."""
    log_file = default_cache_dir() / "logs" / f"crash-{datetime.now():%Y%m%d-%H%M%S}.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError as error:
        return f"(the traceback could not be saved to {log_file}: {error.strerror})"
    return f"The full traceback is in {log_file}; please attach it to a bug report."


def is_main_process() -> bool:
    """False in the other processes of a torchrun launch: only the first prints."""
    return os.environ.get("RANK", "0") == "0"
