"""`labelfix pseudo-label` and `labelfix train --extra`: a round of pseudo-labelling on colour images."""

from __future__ import annotations

import csv
import json

from helpers import COLORS, color_image, make_color_folders, run_cli


def test_pseudo_labels_at_a_precision_then_train_with_them(trained, tmp_path):
    folder, _ = trained
    make_color_folders(tmp_path / "colors", per_class=20)  # half of them validate: enough to promise a precision
    result, output = run_cli("train", tmp_path / "colors", "--config", folder / "train.yaml", "--weights",
                             folder / "tiny.pth", "--out", tmp_path / "first", "--val-fraction", 0.5, "--no-progress")
    assert result.exit_code == 0, output
    pool = tmp_path / "pool"
    pool.mkdir()
    truth = {}
    for name, color in COLORS.items():
        for i in range(4):
            color_image(color, 500 + i).save(pool / f"{name}-{i}.png")
            truth[f"{name}-{i}.png"] = name
    result, output = run_cli("pseudo-label", tmp_path / "first" / "checkpoint.pt", pool, "--to", tmp_path / "pseudo",
                             "--precision", 0.7, "--workers", 0, "--no-progress", "--json")
    assert result.exit_code == 0, output
    summary = json.loads(result.stdout)
    assert summary["pool"] == 12 and {row["class"] for row in summary["classes"]} == set(COLORS)
    records = [json.loads(line) for line in (tmp_path / "pseudo" / "labels.jsonl").read_text().splitlines()]
    assert records and all(record["label"] == truth[record["source"].rsplit("/", 1)[-1]] for record in records)
    assert all(record["probability"] >= record["threshold"] for record in records)
    assert (tmp_path / "pseudo" / "pseudo.html").is_file() and (tmp_path / "pseudo" / "summary.csv").is_file()

    result, output = run_cli("train", tmp_path / "colors", "--config", folder / "train.yaml", "--weights",
                             folder / "tiny.pth", "--out", tmp_path / "round2", "--epochs", 1, "--no-progress",
                             "--split-file", tmp_path / "first" / "split.csv", "--extra", tmp_path / "pseudo" / "labels.jsonl")
    assert result.exit_code == 0, output
    rows = list(csv.DictReader(open(tmp_path / "round2" / "split.csv")))
    extra = [row for row in rows if "pseudo" in row["path"]]
    assert len(extra) == len(records) and {row["split"] for row in extra} == {"train"}  # never validation


def test_an_unreadable_checkpoint_or_an_empty_pool_is_one_error_line(trained, tmp_path):
    folder, _ = trained
    (tmp_path / "empty").mkdir()
    (tmp_path / "pool").mkdir()
    color_image(COLORS["red"], 1).save(tmp_path / "pool" / "a.png")
    (tmp_path / "broken.pt").write_text("not a checkpoint")
    for checkpoint, pool, message in ((tmp_path / "broken.pt", "pool", "not a labelfix checkpoint"),
                                      (folder / "run" / "checkpoint.pt", "empty", "no image files")):
        result, output = run_cli("pseudo-label", checkpoint, tmp_path / pool, "--to", tmp_path / "pseudo",
                                 "--no-progress")
        assert result.exit_code == 1 and message in output and "Traceback" not in output, output
