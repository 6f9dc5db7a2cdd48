"""The review server answers its own page only: host names, origins, body sizes, ids of the run."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import LOCAL
from labelfix import store
from labelfix.review import create_app
from labelfix.review.guards import MAX_BODY_BYTES, is_loopback


def _decisions(run_dir) -> int:
    db = store.open_store(run_dir)
    try:
        return db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    finally:
        db.close()


def test_a_name_that_is_not_this_machine_is_refused_dns_rebinding(run_dir):
    app = create_app(run_dir, warm_thumbnails=False, allow_hosts=["review.example.org"])
    with TestClient(app, base_url="http://evil.example.com:8765") as rebound:
        assert rebound.get("/").status_code == 400
        assert rebound.post("/api/decisions", json={"item_ids": [0], "action": "keep"}).status_code == 400
    for base in (LOCAL, "http://localhost:8765", "http://[::1]:8765", "http://192.168.1.7:8765",
                 "http://review.example.org"):
        with TestClient(app, base_url=base) as client:
            assert client.get("/api/state").status_code == 200, base
    assert _decisions(run_dir) == 0


def test_writes_from_another_site_are_refused(client, run_dir):
    decision = {"item_ids": [0], "action": "keep"}
    assert client.post("/api/decisions", json=decision, headers={"Origin": "http://evil.example.com"}).status_code == 403
    assert client.post("/api/decisions", json=decision, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _decisions(run_dir) == 0
    assert client.post("/api/decisions", json=decision, headers={"Origin": LOCAL}).status_code == 200


def test_unknown_and_absurd_ids_are_refused_and_never_stored(client, run_dir):
    for ids in ([999_999], [0, 999_999], [10**23], [-1]):
        response = client.post("/api/decisions", json={"item_ids": ids, "action": "remove"})
        assert response.status_code in (404, 422), (ids, response.status_code)
    assert client.post("/api/undo", json={"item_ids": [999_999]}).status_code == 404
    assert client.get(f"/api/items/{10**23}").status_code == 422
    assert client.get(f"/thumbs/256/{10**23}.jpg").status_code == 422
    assert client.post("/api/decisions", json={"item_ids": list(range(20_000)), "action": "keep"}).status_code == 422
    assert _decisions(run_dir) == 0


def test_a_large_body_is_refused_before_it_is_read(client, run_dir):
    body = b'{"item_ids": [' + b"0, " * (MAX_BODY_BYTES // 3) + b'0], "action": "keep"}'
    response = client.post("/api/decisions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and _decisions(run_dir) == 0


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                 ("0.0.0.0", False), ("192.168.1.7", False), ("example.org", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) == loopback
