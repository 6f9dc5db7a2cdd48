"""A re-scan of a run under review: no decision is lost, none lands on another image."""

from __future__ import annotations

import logging
import shutil
from contextlib import closing

import labelfix
from helpers import COLORS, color_image, label_flag
from labelfix import store
from labelfix.review.app import RUN_HEADER


def test_a_rescan_while_the_page_is_open_loses_no_decision(client, run_dir, scanned):
    first = label_flag(run_dir, "blue/red_00.png")
    assert client.post("/api/decisions", json={"item_ids": [first], "action": "keep"}).status_code == 200
    labelfix.scan(scanned.root, out=run_dir, folds=3, workers=0)
    # the open page's ids belong to the earlier scan: its changes are refused, never stored against other images
    stale = client.post("/api/decisions", json={"item_ids": [first], "action": "remove"})
    assert stale.status_code == 409 and "reload the page" in stale.json()["detail"]
    assert client.post("/api/undo", json={"item_ids": [first]}).status_code == 409
    assert client.post("/api/decisions", json={"item_ids": [first], "action": "keep"}, headers={RUN_HEADER: ""}).status_code == 428
    state = client.get("/api/state", params={"ids": str(first)}).json()  # the server took up the new scan
    assert state["run_id"] != client.headers[RUN_HEADER]
    client.headers[RUN_HEADER] = state["run_id"]  # the page, reloaded
    second = label_flag(run_dir, "red/green_00.png")
    assert client.post("/api/decisions", json={"item_ids": [second], "action": "remove"}).status_code == 200
    with closing(store.open_store(run_dir)) as db:  # a new connection: what is in the file, not in the server
        decided = store.current_decisions(db).set_index("item_id")["action"].to_dict()
    assert decided == {label_flag(run_dir, "blue/red_00.png"): "keep", second: "remove"}


def test_a_write_that_waited_for_the_scan_is_refused_not_misplaced(run_dir):
    with closing(store.open_store(run_dir)) as db:
        run_id = store.current_run_id(db)
        try:
            store.record_decisions(db, [(0, "remove", None)], "ann", run_id="an-earlier-scan")
        except store.RunReplaced:
            pass
        else:
            raise AssertionError("stored against another scan")
        assert store.current_decisions(db).empty
        store.record_decisions(db, [(0, "remove", None)], "ann", run_id=run_id)
        assert len(store.current_decisions(db)) == 1


def test_decisions_follow_moved_images_and_are_kept_aside_for_changed_and_vanished_ones(scanned_copy, tmp_path, caplog):
    run_dir = tmp_path / "run"
    first = labelfix.scan(scanned_copy, out=run_dir, folds=3, workers=0)
    ids = {item.path: i for i, item in enumerate(first.manifest.items)}
    decided = {"blue/red_00.png": "keep", "green/green_01.png": "remove", "red/red_05.png": "remove",
               "red/red_06.png": "keep"}
    with closing(store.open_store(run_dir)) as db:
        store.record_decisions(db, [(ids[path], action, None) for path, action in decided.items()], "ann")
    (scanned_copy / "green" / "green_01.png").rename(scanned_copy / "green" / "renamed.png")  # moved
    color_image(COLORS["green"], 99).save(scanned_copy / "red" / "red_05.png")  # changed
    (scanned_copy / "red" / "red_06.png").unlink()  # vanished
    color_image(COLORS["blue"], 98).save(scanned_copy / "blue" / "0_new.png")  # every later id shifts
    with caplog.at_level(logging.WARNING):
        result = labelfix.scan(scanned_copy, out=run_dir, folds=3, workers=0)
    paths = [item.path for item in result.manifest.items]
    with closing(store.open_store(run_dir)) as db:
        now = {paths[row.item_id]: row.action for row in store.current_decisions(db).itertuples()}
        dropped = sorted(tuple(row) for row in db.execute("SELECT path, reason, action FROM dropped_decisions"))
    assert now == {"blue/red_00.png": "keep", "green/renamed.png": "remove"}
    assert dropped == [("red/red_05.png", "changed", "remove"), ("red/red_06.png", "vanished", "keep")]
    carried = result.record["decisions_carried_over"]
    assert (carried["images_kept"], carried["images_moved"], carried["images_changed"], carried["images_vanished"]) == (1, 1, 1, 1)
    assert "red/red_05.png" in caplog.text and "dropped_decisions" in caplog.text
    shutil.rmtree(scanned_copy / "green")  # a later scan keeps what was set aside before
    labelfix.scan(scanned_copy, out=run_dir, folds=3, workers=0)
    with closing(store.open_store(run_dir)) as db:
        assert len(db.execute("SELECT * FROM dropped_decisions").fetchall()) == 3
