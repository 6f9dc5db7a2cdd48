"""`labelfix download` against a local HTTP server serving real images and the failures of the wild web."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import color_image, run_cli
from labelfix.download import Limits, Source, done_urls, download, read_sources


def _jpeg(color, seed, size=48) -> bytes:
    buffer = io.BytesIO()
    color_image(color, seed, size=size).save(buffer, format="JPEG")
    return buffer.getvalue()


def _png(color, seed) -> bytes:
    buffer = io.BytesIO()
    color_image(color, seed).save(buffer, format="PNG")
    return buffer.getvalue()


class Site:
    """Paths → behaviour; counts requests per path."""

    def __init__(self) -> None:
        red, red_png = _jpeg((200, 40, 40), 1), _png((200, 40, 40), 2)
        self.pages = {
            "/red.jpg": red, "/red-again.jpg": red, "/red.png": red_png, "/blue.jpg": _jpeg((40, 40, 200), 3),
            "/green.jpg": _jpeg((40, 200, 40), 6), "/large.jpg": _jpeg((40, 40, 200), 4, size=400), "/page.jpg": b"<html>404 but 200</html>",
            "/truncated.jpg": _jpeg((40, 200, 40), 5, size=200)[:400], "/big.jpg": b"\xff" * 50_000,
        }
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            count = self.requests[path]
        if path == "/flaky.jpg" and count == 1:
            return self._reply(handler, 503, b"busy")
        if path == "/flaky.jpg":
            return self._reply(handler, 200, self.pages["/green.jpg"])
        if path == "/slow.jpg":
            time.sleep(1.5)
            return self._reply(handler, 200, self.pages["/blue.jpg"])
        if path == "/loop":
            handler.send_response(302)
            handler.send_header("Location", "/loop")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if path in self.pages:
            return self._reply(handler, 200, self.pages[path])
        return self._reply(handler, 404, b"no")

    @staticmethod
    def _reply(handler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def site():
    served = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            served.handle(self)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a client that gave up (the timeout case) is expected
            pass

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()


FAST = Limits(timeout=0.5, max_bytes=20_000, retries=2, backoff=0.05)


def test_every_failure_is_counted_and_only_whole_images_are_kept(site, tmp_path):
    url = site.url
    sources = [Source(f"{url}{path}", label) for path, label in (
        ("/red.jpg", "red"), ("/red-again.jpg", "red"), ("/red.png", "red"), ("/blue.jpg", "blue"),
        ("/flaky.jpg", "blue"), ("/missing.jpg", "blue"), ("/slow.jpg", "blue"), ("/page.jpg", "blue"),
        ("/truncated.jpg", "green"), ("/loop", "green"), ("/big.jpg", "green"),
    )] + [Source("file:///etc/passwd", "red"), Source("ftp://example.org/a.jpg", "red"),
          Source("data:image/png;base64,AAAA", "red"), Source(f"{url}/escape.jpg", "../escape")]
    outcomes = {o.url.replace(url, ""): o for o in download(sources, tmp_path / "out", FAST, workers=4)}
    status = {path: o.status for path, o in outcomes.items() if o.label != "../escape"}
    assert {status.pop("/red.jpg"), status.pop("/red-again.jpg")} == {"kept", "duplicate"}  # the same bytes twice
    assert status == {
        "/red.png": "kept", "/blue.jpg": "kept", "/flaky.jpg": "kept",  # flaky: a 503, then the image on a retry
        "/missing.jpg": "http 404", "/slow.jpg": "timeout", "/page.jpg": "not an image", "/truncated.jpg": "not an image",
        "/loop": "error", "/big.jpg": "too large", "file:///etc/passwd": "refused", "ftp://example.org/a.jpg": "refused",
        "data:image/png;base64,AAAA": "refused",
    }
    assert [o.status for o in outcomes.values() if o.label == "../escape"] == ["bad label"]
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    kept = [o.file for o in outcomes.values() if o.status == "kept"]
    assert files == sorted(kept + ["sources.jsonl"]) and len(kept) == 4  # named by content; nothing else, nowhere else
    assert all(name.split("/")[0] in ("red", "blue") and len(name.split("/")[1]) == 24 for name in kept)
    assert site.requests["/flaky.jpg"] == 2 and site.requests["/loop"] > 1


def test_a_second_run_asks_only_for_what_is_not_done(site, tmp_path):
    sources = [Source(f"{site.url}/red.jpg", "red"), Source(f"{site.url}/missing.jpg", "green"),
               Source(f"{site.url}/blue.jpg", "blue"), Source(f"{site.url}/large.jpg", "blue")]
    limits = Limits(timeout=0.5, retries=0)
    download(sources, tmp_path / "out", limits, workers=1, max_per_class=1)
    asked = dict(site.requests)
    outcomes = download(sources, tmp_path / "out", limits, workers=1, max_per_class=1)
    assert site.requests["/red.jpg"] == asked["/red.jpg"] and site.requests["/blue.jpg"] == asked["/blue.jpg"]
    assert site.requests["/missing.jpg"] == asked["/missing.jpg"] + 1  # a failure is tried again
    assert [o.status for o in outcomes] == ["kept", "http 404", "kept", "skipped"]  # --max-pics 1 per class
    assert len(done_urls(tmp_path / "out")) == 4


def test_url_lists_in_three_formats_and_the_command(site, tmp_path):
    (tmp_path / "urls_teddys.txt").write_text(f"# bears\n{site.url}/red.jpg\n\n{site.url}/large.jpg\n")
    (tmp_path / "more.csv").write_text(f"url,label\n{site.url}/blue.jpg,grizzly\n")
    (tmp_path / "more.jsonl").write_text(json.dumps({"url": f"{site.url}/red.png", "label": "black"}) + "\n")
    sources = read_sources([tmp_path / "urls_teddys.txt", tmp_path / "more.csv", tmp_path / "more.jsonl"])
    assert [s.label for s in sources] == ["teddys", "teddys", "grizzly", "black"]
    result, _ = run_cli("download", tmp_path / "urls_teddys.txt", tmp_path / "more.csv", "--to", tmp_path / "bears",
                        "--max-size", 100, "--no-progress", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["kept_per_class"] == {"teddys": 2, "grizzly": 1}
    from PIL import Image

    sizes = [Image.open(p).size for p in (tmp_path / "bears" / "teddys").iterdir()]
    assert max(max(size) for size in sizes) == 100  # the 400-px image shrunk on the way in


def test_a_list_without_urls_or_with_a_label_that_is_no_folder_name_is_one_error_line(tmp_path):
    (tmp_path / "urls_empty.txt").write_text("# nothing yet\n\n")
    result, output = run_cli("download", tmp_path / "urls_empty.txt", "--to", tmp_path / "out")
    assert result.exit_code == 1 and "urls_empty.txt: no URLs" in output and "Traceback" not in output
    (tmp_path / "bad.csv").write_text("url,label\nhttp://127.0.0.1:9/a.jpg,../up\n")
    result, output = run_cli("download", tmp_path / "bad.csv", "--to", tmp_path / "out")
    assert result.exit_code == 1 and "'../up' cannot be a class folder" in output
    assert not (tmp_path / "out").exists()  # nothing fetched, nothing made
