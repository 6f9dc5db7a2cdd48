"""`labelfix train`, `evaluate`, `predict` and `lr-find` on label sets (a tiny random-weight network)."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import make_color_sets, run_cli
from labelfix.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def trained_sets(tmp_path_factory, tiny_weights):
    folder = tmp_path_factory.mktemp("sets")
    label_file, _ = make_color_sets(folder / "data", per_pair=5)
    (folder / "train.yaml").write_text(
        "model:\n  name: test_efficientnet\n  image_size: 32\ndata:\n  workers: 0\n  batch_size: 8\n"
        "schedule:\n  epochs: 4\n  lr: 0.03\n")
    result, output = run_cli("train", label_file, "--config", folder / "train.yaml", "--weights", tiny_weights,
                             "--out", folder / "run", "--no-progress")
    assert result.exit_code == 0, output
    return folder, label_file, output


def test_training_on_label_sets_uses_map_and_stores_thresholds(trained_sets):
    folder, _, output = trained_sets
    assert "val mAP" in output
    rows = list(csv.DictReader(open(folder / "run" / "metrics.csv")))
    assert len(rows) == 4 and "val_map" in rows[0]
    checkpoint = load_checkpoint(folder / "run" / "checkpoint.pt")
    assert checkpoint.multilabel and len(checkpoint.thresholds) == 3 == len(checkpoint.classes)
    evaluation = json.loads((folder / "run" / "evaluation.json").read_text())
    assert evaluation["multilabel"] and set(evaluation["per_class"]) == {"blue", "green", "red"}
    assert {"map", "micro_f1", "macro_f1"} <= set(evaluation)
    assert evaluation["per_class"]["red"]["threshold"] == pytest.approx(checkpoint.thresholds[2])
    split = {row["path"]: row for row in csv.DictReader(open(folder / "run" / "split.csv"))}
    assert json.loads(split["images/001.png"]["label"]) == ["green", "red"]
    assert {row["split"] for row in split.values()} == {"train", "val"}


def test_evaluate_and_predict_speak_label_sets(trained_sets, tmp_path):
    folder, label_file, _ = trained_sets
    checkpoint = folder / "run" / "checkpoint.pt"
    result, output = run_cli("evaluate", checkpoint, label_file, "--workers", 0, "--no-progress", "--out", tmp_path / "e")
    assert result.exit_code == 0, output
    assert "mAP" in output and "per-class thresholds" in output and (tmp_path / "e" / "evaluation.json").is_file()
    result, _ = run_cli("predict", checkpoint, label_file.parent / "images" / "001.png", "--workers", 0, "--json")
    assert result.exit_code == 0
    row = json.loads(result.stdout)[0]
    thresholds = dict(zip(load_checkpoint(checkpoint).classes, load_checkpoint(checkpoint).thresholds))
    assert all(probability >= thresholds[name] for name, probability in row["labels"])  # [class, probability] pairs
    assert row["class"] == (" + ".join(name for name, _ in row["labels"]) or "(no label)")
    result, output = run_cli("predict", checkpoint, checkpoint, label_file.parent / "images", "--vote", "hard")
    assert result.exit_code != 0 and "vote soft" in output


def test_lr_find_and_refused_options_on_label_sets(trained_sets, tmp_path, tiny_weights):
    folder, label_file, _ = trained_sets
    result, output = run_cli("lr-find", label_file, "--config", folder / "train.yaml", "--weights", tiny_weights,
                             "--steps", 6, "--output", tmp_path / "lr.png")
    assert result.exit_code == 0, output
    result, output = run_cli("train", label_file, "--config", folder / "train.yaml", "--weights", tiny_weights,
                             "--out", tmp_path / "x", "--balance")
    assert result.exit_code != 0 and "trains without --balance" in output
