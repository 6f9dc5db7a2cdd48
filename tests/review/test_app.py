"""The review app through FastAPI's test client: page, filters, decisions, undo, two tabs, escaping, thumbnails."""

from __future__ import annotations

import html
import re
import threading

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import labelfix
from helpers import LOCAL, label_flag, review_client, review_queue
from labelfix import store
from labelfix.review import create_app


def test_page_shows_every_image_needing_review_in_the_order_of_issues_csv(client, scanned):
    """The page (read from the store) lists what issues.csv (written from the issue table) says needs review, in
    its order: unreadable files first, then by review score, lowest first."""
    issues = pd.read_csv(scanned.run_dir / "issues.csv")
    expected = issues[issues["needs_review"]]
    page = client.get("/", params={"page_size": 500}).text
    shown = [html.unescape(path) for path in re.findall(r'<div class="name" title="([^"]*)"', page)]
    assert shown == expected["path"].tolist() and len(shown) >= 5
    assert set(shown[:2]) == set(scanned.unreadable)
    scores = expected["review_score"].to_numpy(float)[2:]
    assert (scores[1:] >= scores[:-1]).all()
    assert set(scanned.planted) <= set(shown)


def test_filters_by_issue_type_class_pair_and_status(client, run_dir):
    queue, _ = review_queue(run_dir)
    red_flag = label_flag(run_dir, "blue/red_00.png")
    by_pair = client.get("/", params={"pair": "blue→red"}).text
    assert f'data-item="{red_flag}"' in by_pair and "green_00.png" not in by_pair
    by_class = client.get("/", params={"given": "red", "issue_type": "label"}).text
    assert "green_00.png" in by_class and "blue/red_00.png" not in by_class
    client.post("/api/decisions", json={"item_ids": [red_flag], "action": "keep"})
    assert f'data-item="{red_flag}"' not in client.get("/").text  # default: undecided only
    assert f'data-item="{red_flag}"' in client.get("/", params={"status": "decided"}).text


def test_paging_through_the_queue(client, run_dir):
    queue, _ = review_queue(run_dir)
    seen = []
    for page in (1, 2, 3, 99):
        text = client.get("/", params={"page": page, "page_size": 1, "status": "all"}).text
        seen += [int(i) for i in queue["item_id"] if f'data-item="{i}"' in text]
    assert seen[:3] == queue["item_id"].tolist()[:3] and seen[3] == queue["item_id"].tolist()[-1]


def test_decide_undo_and_the_previous_decision_returns(client, run_dir):
    item = label_flag(run_dir, "blue/red_00.png")
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
    item = label_flag(run_dir, "blue/red_00.png")
    refused = client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "purple"})
    assert refused.status_code == 400 and "unknown class 'purple'" in refused.json()["detail"]
    assert client.post("/api/decisions", json={"item_ids": [item], "action": "burn"}).status_code == 422
    assert client.post("/api/decisions", json={"item_ids": [], "action": "keep"}).status_code == 422
    assert client.get("/api/state", params={"ids": "1,x"}).status_code == 400


def test_bulk_decision_and_progress_per_class(client, run_dir):
    queue, _ = review_queue(run_dir)
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
    queue, _ = review_queue(run_dir)
    ids = queue["item_id"].tolist()
    first_app, second_app = create_app(run_dir, reviewer="a"), create_app(run_dir, reviewer="b")
    with review_client(first_app) as first, review_client(second_app) as second:
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


def test_decisions_survive_a_restarted_server_and_a_rescan(client, run_dir):
    item = label_flag(run_dir, "blue/red_00.png")
    client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "green"})
    with review_client(create_app(run_dir)) as restarted:
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
    item = label_flag(run_dir, "blue/red_00.png")
    found = client.get(f"/api/items/{item}").json()
    assert found["labels"] == ["blue"] and found["fold"] in (0, 1, 2)
    assert found["top_classes"][0]["class"] == "red" and len(found["neighbors"]) >= 3
    assert {"label", "item_id", "distance", "path"} <= set(found["neighbors"][0])
    assert client.get("/api/items/99999").status_code == 404


def test_thumbnails_are_made_once_and_cached(client, run_dir):
    item = label_flag(run_dir, "blue/red_00.png")
    response = client.get(f"/thumbs/256/{item}.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    content_hash = store.item_file(store.open_store(run_dir), item)[1]
    cached = run_dir / "thumbnails" / "256" / f"{content_hash}.jpg"
    made_at = cached.stat().st_mtime_ns
    assert client.get(f"/thumbs/256/{item}.jpg").content == response.content
    assert cached.stat().st_mtime_ns == made_at
    assert client.get(f"/thumbs/100/{item}.jpg").status_code == 404
    assert client.get("/thumbs/256/99999.jpg").status_code == 404


def test_a_store_of_another_version_says_what_to_do(run_dir):
    import sqlite3

    with sqlite3.connect(run_dir / "labelfix.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store.STORE_VERSION
        db.execute(f"PRAGMA user_version = {store.STORE_VERSION + 1}")
    with pytest.raises(labelfix.LabelfixError, match="newer labelfix.*upgrade"):
        create_app(run_dir)
    with sqlite3.connect(run_dir / "labelfix.db") as db:  # a store from before versions were recorded
        db.execute("PRAGMA user_version = 0")
        db.execute("ALTER TABLE items DROP COLUMN review_rank")
    with pytest.raises(labelfix.LabelfixError, match="older labelfix; run the same `labelfix scan` again"):
        create_app(run_dir)


def test_a_run_with_nothing_to_review_shows_an_empty_page(run_dir):
    import sqlite3

    with sqlite3.connect(run_dir / "labelfix.db") as db:
        db.execute("UPDATE items SET needs_review = 0")
    with TestClient(create_app(run_dir, warm_thumbnails=False), base_url=LOCAL) as client:
        for url in ("/", "/?status=all&issue_type=label", "/api/state"):
            assert client.get(url).status_code == 200, url
        assert client.get("/").text.count('class="card"') == 0


def test_every_image_sorted_by_any_issue_score(client, run_dir):
    from contextlib import closing

    with closing(store.open_store(run_dir)) as db:
        items = store.review_queue(db, everything=True)
        items["outlier_score"] = items["item_id"].map(store.issue_scores(db, "outlier", everything=True))
        assert "outlier" in store.scored_issue_types(db) and "label" not in store.scored_issue_types(db)
    assert items["outlier_score"].notna().any() and items["needs_review"].sum() < len(items)
    text = client.get("/", params={"scope": "all", "status": "all", "sort": "outlier_score", "page_size": 500}).text
    shown = [int(item) for item in re.findall(r'class="card" tabindex="0" data-item="(\d+)"', text)]
    expected = items.sort_values("outlier_score", kind="stable", na_position="last")["item_id"].tolist()
    assert shown == expected  # every image, by its outlier score
    assert client.get("/", params={"sort": "shoe_size"}).status_code == 422
