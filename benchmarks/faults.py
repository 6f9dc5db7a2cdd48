"""The hostile-user cases of issue 17, run end to end; prints a table (case, expected, observed) for the README.

    python benchmarks/faults.py

Works on a copy of 48 hymenoptera photos (two planted label errors) in a temporary folder, with its own
embedding cache. The review server runs as a real `labelfix review` process; a full disk is simulated by
patching (`shutil.disk_usage`, an ENOSPC raised while the report is written). Writes benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path
from unittest import mock

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

import labelfix  # noqa: E402
from labelfix import store  # noqa: E402
from labelfix.review import create_app  # noqa: E402
from labelfix.run_folder import library_versions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CASES = []


def case(name: str, expected: str):
    def register(function):
        CASES.append((name, expected, function))
        return function
    return register


def make_dataset(root: Path, per_class: int = 24) -> Path:
    source = data.hymenoptera() / "train"
    for label in ("ants", "bees"):
        (root / label).mkdir(parents=True)
        for photo in sorted((source / label).glob("*.jpg"))[:per_class]:
            shutil.copy(photo, root / label / photo.name)
    for label, other in (("ants", "bees"), ("bees", "ants")):  # one planted error each way
        photo = sorted((root / label).glob("*.jpg"))[-1]
        photo.rename(root / other / f"planted_{photo.name}")
    return root


def labels_file(work: Path, root: Path, name: str, label_of) -> Path:
    """A labels.jsonl in `work` (the folder above `root`) giving each photo of `root` the label `label_of(photo)`."""
    photos = sorted(root.glob("*/*.jpg"))
    records = [{"image": photo.relative_to(work).as_posix(), "label": label_of(photo)} for photo in photos]
    (work / name).write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return work / name


def scan(root: Path, run_dir: Path, **options):
    return labelfix.scan(root, out=run_dir, folds=3, workers=0, **options)


def cli(*args: object) -> subprocess.CompletedProcess:
    """`labelfix ARGS...` in a new process; its stdout and stderr together in `.stdout`."""
    return subprocess.run([sys.executable, "-m", "labelfix", *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def review_server(run_dir: Path, *extra: str):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "labelfix", "review", str(run_dir), "--port", str(port), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/api/state", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


def decisions_in_file(run_dir: Path) -> dict[str, str]:
    with closing(store.open_store(run_dir)) as db:
        paths = store.items_with_suggestions(db)["path"].tolist()
        return {paths[row.item_id]: row.action for row in store.current_decisions(db).itertuples()}


def item(run_dir: Path, index: int) -> tuple[int, str]:
    """(id, path) of the run's image at `index` in review order (flagged first)."""
    with closing(store.open_store(run_dir)) as db:
        items = store.items_with_suggestions(db).set_index("item_id")
        order = db.execute("SELECT item_id FROM items ORDER BY review_rank").fetchall()
    item_id = order[index][0]
    return item_id, items.loc[item_id, "path"]


@case("1. re-scan while the review page is open",
      "no decision lost: the stale page's change refused (409), the server reloads, later decisions kept")
def rescan_while_reviewing(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    run_dir = Path(shutil.copytree(run_dir, work / "review-run"))
    with review_server(run_dir) as (url, _):
        old_run = httpx.get(f"{url}/api/state").json()["run_id"]
        first, first_path = item(run_dir, 0)
        httpx.post(f"{url}/api/decisions", json={"item_ids": [first], "action": "keep"},
                   headers={"X-Labelfix-Run": old_run}).raise_for_status()
        cli("scan", root, "--out", run_dir, "--folds", 3, "--workers", 0).check_returncode()
        stale = httpx.post(f"{url}/api/decisions", json={"item_ids": [first], "action": "remove"},
                           headers={"X-Labelfix-Run": old_run}).status_code
        new_run = httpx.get(f"{url}/api/state").json()["run_id"]
        second, second_path = item(run_dir, 10)
        fresh = httpx.post(f"{url}/api/decisions", json={"item_ids": [second], "action": "remove"},
                           headers={"X-Labelfix-Run": new_run}).status_code
    kept = decisions_in_file(run_dir)
    ok = stale == 409 and fresh == 200 and new_run != old_run and kept == {first_path: "keep", second_path: "remove"}
    return f"stale page: {stale}; after reload: {fresh}; in the file after the server stopped: {len(kept)} of 2", ok


@case("2. a file added, one renamed, one changed, then re-scan",
      "decisions follow their image by path and content; changed ones kept aside and named")
def decisions_across_rescans(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    root, run_dir = Path(shutil.copytree(root, work / "moved-data")), work / "moved-run"
    first = scan(root, run_dir)
    paths = [item.path for item in first.manifest.items]
    kept, renamed, changed = paths[5], paths[6], paths[7]
    with closing(store.open_store(run_dir)) as db:
        store.record_decisions(db, [(paths.index(p), "remove", None) for p in (kept, renamed, changed)], "bench")
    (root / renamed).rename(root / Path(renamed).parent / "renamed.jpg")
    shutil.copy(root / paths[20], root / changed)
    shutil.copy(root / paths[30], root / "ants" / "000_new.jpg")  # every id after it shifts
    record = scan(root, run_dir).record["decisions_carried_over"]
    now = decisions_in_file(run_dir)
    expected = {kept: "remove", f"{Path(renamed).parent.as_posix()}/renamed.jpg": "remove"}
    ok = now == expected and record["changed"] == [changed]
    return (f"kept {record['images_kept']}, followed a rename {record['images_moved']}, kept aside "
            f"{record['images_changed']} changed; on other images: {len(set(now) - set(expected))}"), ok


@case("3. ids the run does not have, huge ids and bodies", "404 / 422 / 413, nothing stored")
def bad_ids(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    from fastapi.testclient import TestClient

    run_dir = Path(shutil.copytree(run_dir, work / "ids-run"))
    app = create_app(run_dir, warm_thumbnails=False)
    with TestClient(app, base_url="http://127.0.0.1:8765", headers={"X-Labelfix-Run": app.state.session.run_id}) as client:
        statuses = [
            client.post("/api/decisions", json={"item_ids": [999_999], "action": "remove"}).status_code,
            client.post("/api/decisions", json={"item_ids": [10**23], "action": "remove"}).status_code,
            client.post("/api/decisions", content=b'{"item_ids": [' + b"1," * 3_000_000 + b'1], "action": "keep"}',
                        headers={"Content-Type": "application/json"}).status_code,
        ]
    stored = len(decisions_in_file(run_dir))
    return f"{' / '.join(map(str, statuses))}, {stored} stored", statuses == [404, 422, 413] and stored == 0


@case("4. DNS rebinding, cross-site writes, serving other machines",
      "foreign Host 400, cross-site POST 403, loud warning for --host 0.0.0.0")
def foreign_hosts(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    with review_server(run_dir, "--host", "0.0.0.0") as (url, process):
        rebound = httpx.get(url, headers={"Host": "evil.example.com"}).status_code
        cross = httpx.post(f"{url}/api/decisions", json={"item_ids": [0], "action": "keep"},
                           headers={"Origin": "http://evil.example.com"}).status_code
    warning = "no login" in process.stdout.read()
    return f"{rebound} / {cross} / warning {'shown' if warning else 'missing'}", (rebound, cross, warning) == (400, 403, True)


@case("5. a file name that is not UTF-8; a label file in Latin-1",
      "scanned, stored losslessly, shown escaped; the label file named with its line")
def odd_encodings(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    root = Path(shutil.copytree(root, work / "names-data"))
    name = os.fsdecode(b"caf\xe9-\xff.jpg")
    shutil.copy(next((root / "bees").glob("*.jpg")), root / "ants" / name)
    result = cli("scan", root, "--out", work / "names-run", "--folds", 3, "--workers", 0)
    listed = "caf\\xe9-\\xff.jpg" in (work / "names-run" / "issues.csv").read_text(encoding="utf-8")
    latin = work / "latin1.jsonl"
    latin.write_bytes(b'{"image": "names-data/ants/x.jpg", "label": "caf\xe9"}\n')
    refused = cli("scan", latin, "--out", work / "latin-run")
    named = "latin1.jsonl:1:" in refused.stdout and "unexpected" not in refused.stdout
    ok = result.returncode == 0 and listed and refused.returncode == 1 and named
    return f"scan exit {result.returncode}, escaped in issues.csv: {listed}; Latin-1 file named with line: {named}", ok


@case("6. labels a spreadsheet would run as formulas", "written as text ('=...) in issues.csv")
def formulas(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    label_file = labels_file(work, root, "formulas.jsonl",
                             lambda photo: '=HYPERLINK("http://x","y")' if photo.parent.name == "ants" else "+SUM(1,2)")
    cli("scan", label_file, "--out", work / "formula-run", "--folds", 3, "--workers", 0).check_returncode()
    text = (work / "formula-run" / "issues.csv").read_text(encoding="utf-8")
    ok = "'=HYPERLINK" in text and "'+SUM" in text and ",=HYPERLINK" not in text and ",+SUM" not in text
    return f"prefixed: {ok}", ok


@case("7. links out of the dataset and a link to itself in class folders",
      "left out, each named in a warning; apply never links the outside file in")
def links(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    root = Path(shutil.copytree(root, work / "links-data"))
    outside = work / "outside.jpg"
    shutil.copy(next((root / "ants").glob("*.jpg")), outside)
    (root / "ants" / "outside.jpg").symlink_to(outside)
    (root / "bees" / "loop.jpg").symlink_to(root / "bees" / "loop.jpg")
    result = cli("scan", root, "--out", work / "links-run", "--folds", 3, "--workers", 0)
    paths = [item.path for item in labelfix.read_dataset(root).items]
    named = "outside.jpg" in result.stdout and "loop.jpg" in result.stdout
    ok = result.returncode == 0 and "ants/outside.jpg" not in paths and "bees/loop.jpg" not in paths and named
    return f"left out: {'ants/outside.jpg' not in paths and 'bees/loop.jpg' not in paths}, named: {named}", ok


@case("8a. a corrupt or altered embedding cache", "named, set aside or left out, rebuilt; same results")
def corrupt_cache(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    cache = work / "corrupt-cache"
    first = scan(root, work / "cache-run", cache_dir=cache)
    with closing(sqlite3.connect(cache / "decoded.sqlite")) as db, db:
        db.execute("UPDATE embedding_rows SET vector = zeroblob(length(vector)) WHERE content_hash IN "
                   "(SELECT content_hash FROM embedding_rows LIMIT 10)")
    altered = scan(root, work / "cache-run", cache_dir=cache)
    (cache / "decoded.sqlite").write_bytes(b"garbage" * 1000)
    garbage = scan(root, work / "cache-run", cache_dir=cache)
    same = all(run.issues["path"].tolist() == first.issues["path"].tolist() for run in (altered, garbage))
    recomputed = altered.record["counts"]["embedded"]
    set_aside = len(list(cache.glob("decoded.sqlite.broken-*")))
    return f"altered rows recomputed: {recomputed}; garbage file set aside: {set_aside}; same ranking: {same}", (
        same and recomputed > 0 and set_aside == 1)


@case("8b. a full disk or an unwritable --out", "refused before the embedding; a failed write leaves the earlier run whole")
def full_disk(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    run_dir = Path(shutil.copytree(run_dir, work / "disk-run"))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    tiny = shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20)
    with mock.patch("labelfix.run_folder.shutil.disk_usage", return_value=tiny), \
            mock.patch("labelfix.pipeline.compute_features", side_effect=AssertionError("embedded")):
        try:
            scan(root, work / "no-room")
            refused = "no"
        except labelfix.LabelfixError as error:
            refused = "MiB free" in str(error) and "yes"
    (work / "a-file").write_text("x")
    unwritable = cli("scan", root, "--out", work / "a-file" / "run")

    def disk_full(path, **kwargs):
        path.write_bytes(b"<html>half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with mock.patch("labelfix.pipeline.write_report", disk_full):
        try:
            scan(root, run_dir)
        except OSError:
            pass
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    ok = refused == "yes" and unwritable.returncode == 1 and "cannot write the run folder" in unwritable.stdout and after == before
    return (f"no room: refused before embedding {refused}; unwritable --out named: "
            f"{'cannot write the run folder' in unwritable.stdout}; earlier run intact after ENOSPC: {after == before}"), ok


@case("9. nothing flagged; labels differing by spaces or Unicode form", "empty review page (200); labels merged, warned")
def small_things(work: Path, root: Path, run_dir: Path) -> tuple[str, bool]:
    from fastapi.testclient import TestClient

    run_dir = Path(shutil.copytree(run_dir, work / "empty-run"))
    with closing(sqlite3.connect(run_dir / "labelfix.db")) as db, db:
        db.execute("UPDATE items SET needs_review = 0")
    with TestClient(create_app(run_dir, warm_thumbnails=False), base_url="http://127.0.0.1:8765") as client:
        page = client.get("/").status_code
    forms = iter(["café", "cafe\u0301", " café ", "tea"] * 100)
    label_file = labels_file(work, root, "labels-nfd.jsonl", lambda photo: next(forms))
    classes = labelfix.read_dataset(label_file).classes
    return f"page {page}; classes {list(classes)}", page == 200 and list(classes) == ["café", "tea"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "faults.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        os.environ["LABELFIX_CACHE_DIR"] = str(work / "cache")
        root = make_dataset(work / "data")
        run_dir = work / "run"
        scan(root, run_dir)
        for name, expected, function in CASES:
            start = time.perf_counter()
            try:
                observed, ok = function(work, root, run_dir)
            except Exception as error:  # noqa: BLE001 - a crash is an observation too
                observed, ok = f"crashed: {type(error).__name__}: {error}", False
            rows.append({"case": name, "expected": expected, "observed": observed, "ok": ok,
                         "seconds": round(time.perf_counter() - start, 1)})
            print(f"{'ok ' if ok else 'FAIL'} {name}: {observed}", flush=True)
    print("\n| case | expected | observed |\n|---|---|---|")
    for row in rows:
        print(f"| {row['case']} | {row['expected']} | {'✓' if row['ok'] else '✗'} {row['observed']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cases": rows, "versions": library_versions()}, indent=2) + "\n")
    if not all(row["ok"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
