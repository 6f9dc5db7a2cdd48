"""Who the review server answers: requests for its own host names, writes from its own pages, small bodies.

The page has no accounts: it trusts whoever can reach it. These checks keep other web sites out of it. A page
on another site cannot make a browser read it through a name of its own that resolves here (DNS rebinding: the
`Host` header names that site, and is refused), nor post decisions (the `Origin` header names that site).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

MAX_BODY_BYTES = 1_000_000  # a decision on 10,000 images is about 70 kB
READS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    """Whether binding `host` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Names the server answers to besides IP addresses: localhost, this machine's name, and `extra`."""
    names = {"localhost", socket.gethostname(), *extra}
    return frozenset(name.lower() for name in names if name)


def _host_of(header: str) -> str:
    """The host of a Host header without its port ('[::1]:8765' → '::1')."""
    return urlsplit(f"//{header}").hostname or ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal(request: Request, names: frozenset[str]) -> Response | None:
    """The response that refuses `request`, or None when it may go on."""
    host = _host_of(request.headers.get("host", ""))
    if not (_is_ip(host) or host.lower() in names):
        return PlainTextResponse(f"unknown host {host!r}: open the page by this machine's address, or start the "
                                 "server with --allow-host NAME", status_code=400)
    if request.method in READS:
        return None
    origin = request.headers.get("origin")
    if (origin and urlsplit(origin).netloc != request.headers.get("host")) or \
            request.headers.get("sec-fetch-site") == "cross-site":
        return PlainTextResponse("decisions are accepted from the review page only", status_code=403)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return PlainTextResponse("a request body needs a Content-Length", status_code=411)
    if int(length) > MAX_BODY_BYTES:
        return PlainTextResponse(f"request body over {MAX_BODY_BYTES:,} bytes", status_code=413)
    return None
