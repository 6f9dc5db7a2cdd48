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


def test_a_missing_checkpoint_is_named_before_anything_loads(tmp_path):
    result, output = run_cli("predict", tmp_path / "missing.pt", tmp_path)
    assert result.exit_code == 2 and "missing.pt" in output and "does not exist" in output


def test_predictions_go_to_stdout_whole_when_piped_and_as_json(trained, tmp_path):
    folder, _ = trained
    deep = tmp_path / ("a-long-folder-name-" * 6) / "of-images"
    deep.mkdir(parents=True)
    color_image((40, 170, 60), 5).save(deep / "green-one.png")
    result, _ = run_cli("predict", folder / "run" / "checkpoint.pt", deep, "--workers", 0, "--no-progress")
    assert result.exit_code == 0 and str(deep / "green-one.png") in result.stdout  # not cut to a terminal's width
    result, _ = run_cli("predict", folder / "run" / "checkpoint.pt", deep, "--workers", 0, "--no-progress", "--json")
    rows = json.loads(result.stdout)
    assert rows[0]["path"] == str(deep / "green-one.png") and rows[0]["class"] == "green"
