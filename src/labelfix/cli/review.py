"""`labelfix review`: the local review page over a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelfix.cli.common import console, handles_errors, setup_logging, shown


@handles_errors
def review(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", exists=True, help="A run folder written by `labelfix scan`.")],
    host: Annotated[str, typer.Option(help="Address to bind; the default serves this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a web browser.")] = False,
    reviewer: Annotated[Optional[str], typer.Option(help="Name saved with each decision [default: your user name].")] = None,
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", help="Another host name the page may be opened by (besides IP addresses, localhost and this machine's name); repeatable.")] = None,
) -> None:
    """Review the flagged images in a local web page: accept, keep, relabel or remove, from the keyboard."""
    import threading
    import webbrowser

    import uvicorn

    from labelfix.review import create_app
    from labelfix.review.guards import is_loopback

    setup_logging(False)
    _check_port(host, port)
    review_app = create_app(run_dir, reviewer, allow_hosts=allow_host or ())
    url = f"http://{host}:{port}/"
    session = review_app.state.session
    if not is_loopback(host):
        console.print(f"[bold yellow]warning:[/] --host {host} serves the review page to other machines, and it has no "
                      "login: anyone who can reach this address can see the images and change the decisions",
                      highlight=False, soft_wrap=True)
    console.print(f"Reviewing [bold]{len(session.queue)}[/] images of {shown(run_dir)} at [bold]{url}[/] "
                  "(decisions are saved as you make them; Ctrl-C stops the server)", highlight=False)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(review_app, host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """A clear error, before anything is served, when the address cannot be bound."""
    import socket

    from labelfix.errors import LabelfixError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise LabelfixError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise LabelfixError(f"cannot serve on {host}:{port} ({error.strerror}): another program (another "
                                "labelfix review?) uses it; choose another with --port") from None
