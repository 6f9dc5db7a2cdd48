"""The review server on a multi-label run: label sets shown as text, relabels to sets, apply reads them."""

from __future__ import annotations

import json

from helpers import review_client
from labelfix.apply import apply_run
from labelfix.review import create_app


def test_a_label_set_decision_is_checked_stored_and_applied(multilabel_run_dir, tmp_path):
    with review_client(create_app(multilabel_run_dir, reviewer="tester")) as client:
        page = client.get("/?status=all&page_size=500")
        assert page.status_code == 200 and "(no label)" in page.text and "switch a class on/off" in page.text
        state = client.get("/api/state").json()
        assert state["progress"]["total"] > 0
        flagged = client.get("/?issue_type=label").text
        assert "images/000.png" in flagged
        item = next(int(part.split('"')[1]) for part in page.text.split("data-item=")[1:]
                    if 'title="images/000.png"' in part.split("</article>")[0])
        assert client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "label": "red"}).status_code == 400
        assert client.post("/api/decisions", json={"item_ids": [item], "action": "relabel",
                                                   "labels": ["red", "red"]}).status_code == 400
        assert client.post("/api/decisions", json={"item_ids": [item], "action": "relabel",
                                                   "labels": ["purple"]}).status_code == 400
        answer = client.post("/api/decisions", json={"item_ids": [item], "action": "relabel", "labels": ["red", "blue"]})
        assert answer.status_code == 200
        assert json.loads(answer.json()["decisions"][str(item)]["label"]) == ["blue", "red"]
    apply_run(multilabel_run_dir, tmp_path / "clean")
    kept = {r["image"]: r["label"] for r in map(json.loads, (tmp_path / "clean" / "labels.jsonl").read_text().splitlines())}
    assert kept["images/000.png"] == ["blue", "red"]  # the reviewer's set, not the given []
