"""Review page speed with thousands of flagged images: page load in headless Chromium, paging, decisions.

    python benchmarks/review_page.py --subset 12000            # CIFAR-10N `worst` labels: about 5,000 to review

Scans a CIFAR-10N subset (embeddings come from the cache when a benchmark has filled it), serves the review
page with uvicorn as `labelfix review` does, and measures in Debian's chromium (Playwright): navigation to the
`load` event with the first screenful of thumbnails decoded, first with cold thumbnails (made on request) and again
warm (cached on disk); the server time of the first, a middle and the last page; a decision's round trip.
Writes benchmarks/results/review-page.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
from labelfix.review import create_app  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# Thumbnails load lazily: those in the first screenful are the ones a person waits for.
THUMBNAILS_DECODED = (
    "Array.from(document.querySelectorAll('.card img')).filter(image => image.getBoundingClientRect().top < innerHeight)"
    ".every(image => image.complete && image.naturalWidth > 0)"
)


def serve(run_dir: Path, warm_thumbnails: bool) -> tuple[uvicorn.Server, str]:
    """Cold: no thumbnail made yet, none made ahead. Warm: every grid thumbnail made (as the server does at start)."""
    shutil.rmtree(run_dir / "thumbnails", ignore_errors=True)
    app = create_app(run_dir, reviewer="benchmark", warm_thumbnails=warm_thumbnails)
    if warm_thumbnails:
        start = time.perf_counter()
        app.state.warming.join()
        print(f"thumbnails of the whole queue made in {time.perf_counter() - start:.1f} s")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


def browser_load(browser, url: str) -> float:
    """Seconds from navigation to the load event with the first screenful of thumbnails decoded."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    page.goto(url, wait_until="load")
    page.wait_for_function(THUMBNAILS_DECODED)
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def server_seconds(url: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        httpx.get(url, timeout=60).raise_for_status()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=12000)
    parser.add_argument("--labels", default="worst")
    parser.add_argument("--page-size", type=int, default=48)
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: labelfix's)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()

    label_file, _, _ = data.cifar10n(args.labels, args.subset, 0)
    with tempfile.TemporaryDirectory() as out:
        run_dir = Path(out)
        scan_start = time.perf_counter()
        result = labelfix.scan(label_file, out=run_dir, cache_dir=args.cache_dir)
        scan_seconds = time.perf_counter() - scan_start
        print(f"scanned {len(result.manifest)} images in {scan_seconds:.0f} s: {result.record['timings_seconds']}")
        flagged = int(result.issues["needs_review"].sum())
        pages = -(-flagged // args.page_size)
        rows = {}
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
            for warm in (False, True):
                server, url = serve(run_dir, warm_thumbnails=warm)
                query = f"?page_size={args.page_size}"
                startup = browser_load(browser, url + query)
                rows["warm" if warm else "cold"] = {
                    "first_page_load_s": round(startup, 3),
                    "middle_page_load_s": round(browser_load(browser, f"{url}{query}&page={pages // 2}"), 3),
                }
                if warm:
                    rows["server_first_page_s"] = round(server_seconds(url + query), 4)
                    rows["server_middle_page_s"] = round(server_seconds(f"{url}{query}&page={pages // 2}"), 4)
                    rows["server_last_page_s"] = round(server_seconds(f"{url}{query}&page={pages}"), 4)
                    rows["server_state_of_a_page_s"] = round(server_seconds(f"{url}api/state?ids={','.join(map(str, range(args.page_size)))}"), 4)
                    item = int(result.issues.index[0])
                    start = time.perf_counter()
                    for _ in range(20):
                        httpx.post(f"{url}api/decisions", json={"item_ids": [item], "action": "keep"},
                                   headers={"X-Labelfix-Run": result.record["run_id"]}).raise_for_status()
                    rows["decision_round_trip_s"] = round((time.perf_counter() - start) / 20, 4)
                server.should_exit = True
                time.sleep(0.5)
            browser.close()
    record = {"images": len(result.manifest), "to_review": flagged, "pages": pages, "page_size": args.page_size,
              "scan_seconds": round(scan_seconds, 1), **rows}
    print(f"{'images':>28} {record['images']}\n{'to review':>28} {flagged} ({pages} pages of {args.page_size})")
    for name in ("cold", "warm"):
        print(f"{'page load, ' + name + ' thumbnails':>28} first {rows[name]['first_page_load_s']:.2f} s, "
              f"middle {rows[name]['middle_page_load_s']:.2f} s")
    for key in ("server_first_page_s", "server_middle_page_s", "server_last_page_s", "server_state_of_a_page_s",
                "decision_round_trip_s"):
        print(f"{key.replace('_', ' '):>28} {rows[key] * 1000:.0f} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review-page.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
