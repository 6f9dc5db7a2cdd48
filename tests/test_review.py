"""The review app through FastAPI's test client: page, filters, decisions, undo, two tabs, escaping, thumbnails."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

import labelfix
from labelfix import store
from labelfix.review import create_app
from labelfix.review.queue import QueueFilter, filter_queue, page_of, review_progress, with_decisions
from tests.conftest import color_image, make_color_folders

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def scanned_run(tmp_path_factory):
    """A scanned colour dataset with two planted label errors and a file name that is HTML."""
    root = tmp_path_factory.mktemp("data") / "colors"
    make_color_folders(root, flips={"red": "blue", "green": "red"})
    color_image((40, 70, 200), 777).save(root / "red" / HOSTILE_NAME)  # a blue image filed as red
    run_dir = tmp_path_factory.mktemp("run")
    labelfix.scan(root, out=run_dir, folds=3, workers=0, cache_dir=tmp_path_factory.mktemp("cache"))
    return run_dir


@pytest.fixture
def run_dir(scanned_run, tmp_path):
    """A fresh copy of the scanned run per test, so decisions do not leak between tests."""
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("labelfix.db", "run.json"):
        (copy / name).write_bytes((scanned_run / name).read_bytes())
    return copy


@pytest.fixture
def client(run_dir):
    with TestClient(create_app(run_dir, reviewer="tester")) as test_client:
        yield test_client


def _queue(run_dir):
    db = store.open_store(run_dir)
    try:
        return store.review_queue(db), store.read_classes(db)
    finally:
        db.close()


def _label_flag(run_dir, path_part: str) -> int:
    queue, _ = _queue(run_dir)
    rows = queue[queue["path"].str.contains(path_part, regex=False) & queue["issue_types"].map(lambda t: "label" in t)]
    assert len(rows) == 1, queue[["path", "issue_types"]]
    return int(rows["item_id"].iloc[0])


def test_page_shows_every_flagged_image_worst_first(client, run_dir):
    queue, classes = _queue(run_dir)
    page = client.get("/", params={"page_size": 500})
    assert page.status_code == 200
    assert page.text.count('class="card"') == len(queue) >= 3
    order = [page.text.index(f'data-item="{item_id}"') for item_id in queue["item_id"]]
    assert order == sorted(order)
    assert "red_00.png" in page.text and "green_00.png" in page.text  # the planted errors
    assert all(f"<kbd>{i + 1}</kbd> {name}" in page.text for i, name in enumerate(classes))


def test_filters_by_issue_type_class_pair_and_status(client, run_dir):
    queue, _ = _queue(run_dir)
    red_flag = _label_flag(run_dir, "blue/red_00.png")
    by_pair = client.get("/", params={"pair": "blue→red"}).text
    assert f'data-item="{red_flag}"' in by_pair and "green_00.png" not in by_pair
    by_class = client.get("/", params={"given": "red", "issue_type": "label"}).text
    assert "green_00.png" in by_class and "blue/red_00.png" not in by_class
    client.post("/api/decisions", json={"item_ids": [red_flag], "action": "keep"})
    assert f'data-item="{red_flag}"' not in client.get("/").text  # default: undecided only
    assert f'data-item="{red_flag}"' in client.get("/", params={"status": "decided"}).text


def test_paging_through_the_queue(client, run_dir):
    queue, _ = _queue(run_dir)
    seen = []
    for page in (1, 2, 3, 99):
        text = client.get("/", params={"page": page, "page_size": 1, "status": "all"}).text
        seen += [int(i) for i in queue["item_id"] if f'data-item="{i}"' in text]
    assert seen[:3] == queue["item_id"].tolist()[:3] and seen[3] == queue["item_id"].tolist()[-1]


def test_decide_undo_and_the_previous_decision_returns(client, run_dir):
    item = _label_flag(run_dir, "blue/red_00.png")
    state = client.post("/api/decisions", json={"item_ids": [item], "action": "accept"}).json()
    assert state["decisions"][str(item)] == {"action": "accept", "label": "red"}
    client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "green"})
    client.post("/api/decisions", json={"item_ids": [item], "action": "remove"})
    assert client.post("/api/undo", json={"item_ids": [item]}).json()["decisions"][str(item)]["label"] == "green"
    assert client.post("/api/undo", json={"item_ids": [item]}).json()["decisions"][str(item)]["action"] == "accept"
    assert client.post("/api/undo", json={"item_ids": [item]}).json()["decisions"] == {}
    db = store.open_store(run_dir)
    rows = db.execute("SELECT action, reviewer, decided_at, undone_at FROM decisions ORDER BY decision_id").fetchall()
    assert [r["action"] for r in rows] == ["accept", "relabel", "remove"]
    assert all(r["reviewer"] == "tester" and r["decided_at"] and r["undone_at"] for r in rows)


def test_bad_decisions_are_refused_with_a_reason(client, run_dir):
    item = _label_flag(run_dir, "blue/red_00.png")
    refused = client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "purple"})
    assert refused.status_code == 400 and "unknown class 'purple'" in refused.json()["detail"]
    assert client.post("/api/decisions", json={"item_ids": [item], "action": "burn"}).status_code == 422
    assert client.post("/api/decisions", json={"item_ids": [], "action": "keep"}).status_code == 422
    assert client.get("/api/state", params={"ids": "1,x"}).status_code == 400


def test_bulk_decision_and_progress_per_class(client, run_dir):
    queue, _ = _queue(run_dir)
    flags = queue[queue["issue_types"].map(lambda t: "label" in t)]
    ids = flags["item_id"].tolist()
    state = client.post("/api/decisions", json={"item_ids": ids, "action": "accept"}).json()
    assert set(state["decisions"]) == {str(i) for i in ids}
    client.post("/api/decisions", json={"item_ids": ids[:1], "action": "keep"})
    progress = client.get("/api/state").json()["progress"]
    assert progress["reviewed"] == len(ids) and progress["left"] == len(queue) - len(ids)
    assert progress["share_real"] == pytest.approx((len(ids) - 1) / len(ids))
    assert sum(row["reviewed"] for row in progress["per_class"]) == len(ids)


def test_two_tabs_and_two_servers_keep_every_decision(run_dir):
    """Decisions from two app instances (two connections) in parallel threads are all kept."""
    queue, _ = _queue(run_dir)
    ids = queue["item_id"].tolist()
    with TestClient(create_app(run_dir, reviewer="a")) as first, TestClient(create_app(run_dir, reviewer="b")) as second:
        statuses = []

        def decide(client, action):
            for item in ids:
                statuses.append(client.post("/api/decisions", json={"item_ids": [item], "action": action}).status_code)

        threads = [threading.Thread(target=decide, args=pair) for pair in ((first, "keep"), (second, "remove"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 2 * len(ids)
        assert len(first.get("/api/state", params={"ids": ",".join(map(str, ids))}).json()["decisions"]) == len(ids)
    db = store.open_store(run_dir)
    assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 2 * len(ids)
    assert set(store.current_decisions(db)["reviewer"]) <= {"a", "b"}


def test_decisions_survive_a_restarted_server_and_a_rescan(client, run_dir, scanned_run):
    item = _label_flag(run_dir, "blue/red_00.png")
    client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "green"})
    with TestClient(create_app(run_dir)) as restarted:
        assert restarted.get("/api/state", params={"ids": str(item)}).json()["decisions"][str(item)]["label"] == "green"
    root = labelfix.store.read_run_record(store.open_store(run_dir))["dataset"]["root"]
    labelfix.scan(root, out=run_dir, folds=3, workers=0)
    db = store.open_store(run_dir)
    assert store.current_decisions(db).to_dict("records")[0]["label"] == "green"


def test_user_data_is_escaped(client, run_dir):
    text = client.get("/", params={"page_size": 500, "status": "all"}).text
    assert "onerror" in text  # the hostile file is listed...
    assert "<img src=x onerror" not in text  # ...but never as markup
    page_data = text.split('id="page-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in page_data


def test_evidence_has_probabilities_neighbours_and_fold(client, run_dir):
    item = _label_flag(run_dir, "blue/red_00.png")
    found = client.get(f"/api/items/{item}").json()
    assert found["labels"] == ["blue"] and found["fold"] in (0, 1, 2)
    assert found["top_classes"][0]["class"] == "red" and len(found["neighbors"]) >= 3
    assert {"label", "item_id", "distance", "path"} <= set(found["neighbors"][0])
    assert client.get("/api/items/99999").status_code == 404


def test_thumbnails_are_made_once_and_cached(client, run_dir):
    item = _label_flag(run_dir, "blue/red_00.png")
    response = client.get(f"/thumbs/256/{item}.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    content_hash = store.item_file(store.open_store(run_dir), item)[1]
    cached = run_dir / "thumbnails" / "256" / f"{content_hash}.jpg"
    made_at = cached.stat().st_mtime_ns
    assert client.get(f"/thumbs/256/{item}.jpg").content == response.content
    assert cached.stat().st_mtime_ns == made_at
    assert client.get(f"/thumbs/100/{item}.jpg").status_code == 404
    assert client.get("/thumbs/256/99999.jpg").status_code == 404


def test_queue_functions_on_plain_tables(run_dir):
    queue, _ = _queue(run_dir)
    db = store.open_store(run_dir)
    store.record_decisions(db, [(int(queue["item_id"].iloc[0]), "remove", None)], "t")
    table = with_decisions(queue, store.current_decisions(db))
    assert len(filter_queue(table, QueueFilter(status="decided"))) == 1
    assert len(filter_queue(table, QueueFilter(status="all"))) == len(queue)
    rows, pages = page_of(table, 5, 2)
    assert pages == -(-len(queue) // 2) and len(rows) >= 1
    assert review_progress(table)["reviewed"] == 1


def _chromium() -> str | None:
    import os
    import shutil

    return os.environ.get("LABELFIX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(run_dir):
    """The review app served by uvicorn on a free local port, as `labelfix review` serves it."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(run_dir, reviewer="browser"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


def test_relabel_from_the_keyboard_in_chromium_survives_a_reload(served, run_dir):
    """End to end in a real headless Chromium (Debian's `chromium`): keys decide, a reload shows the decision."""
    import os

    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("LABELFIX_REQUIRE_BROWSER"):
            pytest.fail("no chromium found and LABELFIX_REQUIRE_BROWSER is set (CI installs Debian's chromium)")
        pytest.skip("no chromium on PATH: install Debian's `chromium` (or set LABELFIX_CHROMIUM) to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency: pip install -e '.[test]'")
    _, classes = _queue(run_dir)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        dialogs, errors = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(served + "?status=all&page_size=500")
        first = page.locator(".card").first
        item = first.get_attribute("data-item")
        assert page.evaluate("document.activeElement.dataset.item") == item  # the first card has the focus
        page.keyboard.press("3")  # relabel to the third class
        page.wait_for_selector(f'.card[data-item="{item}"][data-action="relabel"]')
        second = page.locator(".card").nth(1).get_attribute("data-item")
        assert page.evaluate("document.activeElement.dataset.item") == second  # focus moved on to the next image
        page.keyboard.press("k")  # keep the second image's label
        page.wait_for_selector(f'.card[data-item="{second}"][data-action="keep"]')
        page.keyboard.press("Control+z")  # undo my last action: the keep
        page.wait_for_selector(f'.card[data-item="{second}"][data-action=""]')
        third = page.locator(".card").nth(2).get_attribute("data-item")
        other_tab = browser.new_page()
        other_tab.goto(served + "?status=all&page_size=500")
        other_tab.locator(f'.card[data-item="{third}"] button[data-do="remove"]').click()
        other_tab.wait_for_selector(f'.card[data-item="{third}"][data-action="remove"]')
        page.evaluate("refresh()")  # what the page does every 5 s and when it gets the focus back
        page.wait_for_selector(f'.card[data-item="{third}"][data-action="remove"]')
        other_tab.locator(f'.card[data-item="{third}"] button[data-do="undo"]').click()
        other_tab.wait_for_selector(f'.card[data-item="{third}"][data-action=""]')
        page.evaluate("refresh()")
        page.wait_for_selector(f'.card[data-item="{third}"][data-action=""]')

        page.reload()
        card = page.locator(f'.card[data-item="{item}"]')
        assert card.get_attribute("data-action") == "relabel"
        assert card.locator(".decision").inner_text() == f"→ {classes[2]}"
        assert page.locator(f'.card[data-item="{second}"]').get_attribute("data-action") == ""
        assert "1 of" in page.locator("#progress-text").inner_text()
        page.locator(f'.card[data-item="{item}"]').focus()
        page.keyboard.press("e")
        page.wait_for_selector("#evidence:not([hidden]) .neighbors figure")
        browser.close()
    assert dialogs == [] and errors == []  # the file named like an <img onerror> tag ran nothing
    db = store.open_store(run_dir)
    assert store.current_decisions(db)[["item_id", "action", "label", "reviewer"]].values.tolist() == [
        [int(item), "relabel", classes[2], "browser"]
    ]


def test_a_store_of_an_older_version_asks_for_a_rescan(run_dir):
    import sqlite3

    with sqlite3.connect(run_dir / "labelfix.db") as db:
        db.execute("ALTER TABLE items DROP COLUMN review_rank")
    with pytest.raises(labelfix.LabelfixError, match="older labelfix; run the same `labelfix scan` again"):
        create_app(run_dir)
