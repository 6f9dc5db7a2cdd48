"""`apply_in_place`: the original dataset changed after a backup; nothing is deleted."""

from __future__ import annotations

import csv
import json

import pytest

import labelfix
from labelfix.apply import apply_in_place
from labelfix.errors import ApplyError


def test_nothing_changes_without_confirmation(decided_runs):
    with pytest.raises(ApplyError, match="--yes-modify-my-dataset"):
        apply_in_place(decided_runs.runs["folders"], confirmed=False)
    decided_runs.assert_untouched("folders")


def test_in_place_folders_moves_and_backs_up(decided_runs, tmp_path):
    root, run = decided_runs.fresh_copy("folders", tmp_path)
    before = decided_runs.hashes_of(root)
    result = apply_in_place(run, confirmed=True)
    after = decided_runs.hashes_of(root)
    assert sorted(after.values()) == sorted(before.values())  # moved, nothing deleted
    assert after["train/green/green_00.png"] == before["train/red/green_00.png"]
    assert after["train/blue/green_03.png"] == before["train/green/green_03.png"]
    assert after[".labelfix-removed/train/blue/blue_05.png"] == before["train/blue/blue_05.png"]
    assert after[".labelfix-removed/train/blue/broken.png"] == before["train/blue/broken.png"]
    backup = json.loads(result.backup.read_text())
    assert {"from": "train/red/green_00.png", "to": "train/green/green_00.png"} in backup["moves"]
    assert len(backup["moves"]) == 4
    assert {"path": "train/red/green_00.png", "label": "red", "split": "train"} in backup["items"]
    assert len(labelfix.read_dataset(root)) == 38


def test_in_place_csv_rewrites_the_label_file(decided_runs, tmp_path):
    root, run = decided_runs.fresh_copy("csv", tmp_path, path_column="file", label_column="cls", split_column="part")
    original = (root / "pets.csv").read_text()
    images = {k: v for k, v in decided_runs.hashes_of(root).items() if k.endswith(".png")}
    result = apply_in_place(run, confirmed=True)
    assert result.label_file_backup.read_text() == original and not result.label_file_backup.name.endswith(".csv")
    assert {k: v for k, v in decided_runs.hashes_of(root).items() if k.endswith(".png")} == images
    rows = list(csv.DictReader((root / "pets.csv").open()))
    assert {r["file"]: r["cls"] for r in rows} == decided_runs.expected_labels("images/")
