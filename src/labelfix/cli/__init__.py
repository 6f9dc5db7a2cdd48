"""The `labelfix` command line: one module per command, registered on `app` here (explicitly, in help order)."""

from __future__ import annotations

from typing import Annotated

import typer

from labelfix.cli import (
    apply,
    compare,
    download,
    evaluate,
    example,
    lr_find,
    predict,
    pseudo_label,
    review,
    scan,
    train,
    verify,
)

app = typer.Typer(
    help="Find and fix bad labels and bad images in image-classification datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" must not be read as markup and vanish
)
example_app = typer.Typer(help="Bundled example datasets with known label errors.", no_args_is_help=True,
                          rich_markup_mode=None)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"labelfix {version('labelfix')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Find and fix bad labels and bad images in image-classification datasets."""


app.command()(scan.scan)
app.command()(download.download)
app.command()(verify.verify)
app.add_typer(example_app, name="example")
example_app.command("digits")(example.digits)
example_app.command("check")(example.check)
app.command()(review.review)
app.command("apply")(apply.apply)
app.command()(train.train)
app.command("lr-find")(lr_find.lr_find)
app.command()(evaluate.evaluate)
app.command()(predict.predict)
app.command("pseudo-label")(pseudo_label.pseudo_label)
app.command()(compare.compare)
