"""`labelfix predict`."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import color_image, run_cli


def test_predict_writes_csv_and_json_with_top_k(trained, tmp_path):
    folder, _ = trained
    images = tmp_path / "new"
    images.mkdir()
    color_image((210, 40, 40), 99).save(images / "a.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    result, output = run_cli("predict", folder / "run" / "checkpoint.pt", images, folder / "colors" / "red" / "red_01.png",
                          "--output", tmp_path / "p.csv", "--top-k", 2, "--workers", 0, "--no-progress")
    assert result.exit_code == 0, output
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["a.png", "broken.jpg", "red_01.png"]
    assert rows[1]["error"] and not rows[1]["class"]
    assert rows[0]["class"] == rows[0]["class_1"] == "red" and rows[2]["class"] == "red"  # the network learned colours
    assert float(rows[0]["probability_1"]) >= float(rows[0]["probability_2"])
    result, output = run_cli("predict", folder / "run" / "checkpoint.pt", images / "a.png", "--output", tmp_path / "p.json",
                             "--workers", 0, "--no-progress")
    assert result.exit_code == 0, output
    record = json.loads((tmp_path / "p.json").read_text())[0]
    assert len(record["top_k"]) == 3 and sum(p["probability"] for p in record["top_k"]) == pytest.approx(1, abs=1e-4)


def test_unknown_checkpoint_exits_1(tmp_path):
    result, output = run_cli("predict", tmp_path / "missing.pt", tmp_path)
    assert result.exit_code == 1 and "checkpoint not found" in output
