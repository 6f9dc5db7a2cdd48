"""A file name that is not UTF-8 (bytes Python holds as surrogate escapes) and looks like console markup:
scanned, stored losslessly, shown escaped, reviewed and applied."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import closing

import pytest

import labelfix
from helpers import review_client, run_cli
from labelfix import store
from labelfix.review import create_app

NAME = os.fsdecode(b"[bold]caf\xe9-\xff.png")  # Latin-1 bytes (not UTF-8), and console markup
SHOWN = "[bold]caf\\xe9-\\xff.png"


@pytest.fixture
def odd_names(scanned_copy):
    try:
        shutil.copy(scanned_copy / "blue" / "blue_01.png", scanned_copy / "red" / NAME)  # a planted error, too
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    return scanned_copy


def test_a_non_utf8_name_is_scanned_reviewed_and_applied(odd_names, tmp_path):
    run_dir = tmp_path / "run"
    result, output = run_cli("scan", odd_names, "--out", run_dir, "--folds", "3", "--workers", "0")
    assert result.exit_code == 0, output
    assert f"red/{SHOWN}: red → blue" in output  # the console shows it escaped
    assert f"red/{SHOWN}" in (run_dir / "issues.csv").read_text(encoding="utf-8")
    assert SHOWN in (run_dir / "report.html").read_text(encoding="utf-8")
    records = [json.loads(line) for line in (run_dir / "corrected_labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert f"red/{NAME}" in [record["image"] for record in records]  # lossless: names the file itself
    with closing(store.open_store(run_dir)) as db:
        ids = {path: item_id for item_id, path in enumerate(store.items_with_suggestions(db)["path"])}
    item = ids[f"red/{NAME}"]
    with review_client(create_app(run_dir, warm_thumbnails=False)) as client:
        assert SHOWN in client.get("/", params={"status": "all", "page_size": 500}).text
        assert client.get(f"/api/items/{item}").json()["path"] == f"red/{SHOWN}"
        assert client.get(f"/thumbs/256/{item}.jpg").headers["content-type"] == "image/jpeg"
        assert client.post("/api/decisions", json={"item_ids": [item], "action": "keep"}).status_code == 200
    for output_format in ("folders", "jsonl"):
        result, output = run_cli("apply", run_dir, "--to", tmp_path / output_format, "--format", output_format)
        assert result.exit_code == 0, output
        copied = tmp_path / output_format / "red" / NAME
        assert copied.read_bytes() == (odd_names / "red" / NAME).read_bytes()
    assert f"red/{NAME}" in [item.path for item in labelfix.read_dataset(tmp_path / "jsonl" / "labels.jsonl").items]
    result, output = run_cli("apply", run_dir, "--to", tmp_path / "csv", "--format", "csv")
    assert result.exit_code == 1 and SHOWN in output and "--format jsonl" in output
