"""`apply_run`: the cleaned dataset as a new folder, over real tiny scans; the original is only read."""

from __future__ import annotations

import csv
import json
import shutil

import pandas as pd
import pytest

import labelfix
from labelfix import store
from labelfix.apply import apply_run
from labelfix.apply.layout import class_folder_path
from labelfix.errors import ApplyError, DatasetError


def test_folders_with_links(decided_runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(decided_runs.runs["folders"], out)
    decided_runs.assert_untouched("folders")
    assert result.counts == {"kept": 38, "relabelled_by_review": 2, "relabelled_by_suggestion": 0,
                             "removed_by_review": 1, "unreadable_dropped": 1, "flags_left_undecided": 1}
    expected = {class_folder_path(path, label, source_format="folders", split="yes")
                for path, label in decided_runs.expected_labels("").items()}
    assert set(decided_runs.hashes_of(out)) == expected | {"changes.csv", "apply.json"}
    assert (out / "train/green/green_00.png").stat().st_ino == (decided_runs.roots["folders"] / "train/red/green_00.png").stat().st_ino
    assert out.stat().st_mode & 0o777 == (out / "train").stat().st_mode & 0o777  # the output's own folder, too
    manifest = labelfix.read_dataset(out)
    assert {item.split for item in manifest.items} == {"train", "val"} and len(manifest) == 38
    changes = pd.read_csv(out / "changes.csv", keep_default_na=False)
    assert changes[["path", "action", "given_label", "final_label", "source", "reviewer"]].values.tolist() == [
        ["train/blue/blue_05.png", "remove", "blue", "", "review", "bo"],
        ["train/blue/broken.png", "remove", "blue", "", "unreadable", ""],
        ["train/green/green_03.png", "relabel", "green", "blue", "review", "bo"],
        ["train/red/green_00.png", "accept", "red", "green", "review", "bo"],
    ]
    record = json.loads((out / "apply.json").read_text())
    assert record["output"] == {"format": "folders", "label_file": None, "images": "link"}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".clean.")]  # no staging folder left


def test_folders_copy_with_suggestions_and_unreadable_kept(decided_runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(decided_runs.runs["folders"], out, images="copy", accept_suggestions_above=0.0, keep_unreadable=True)
    decided_runs.assert_untouched("folders")
    assert (out / "train/blue/broken.png").is_file()
    assert (out / "train/green/green_00.png").stat().st_ino != (decided_runs.roots["folders"] / "train/red/green_00.png").stat().st_ino
    flagged = store.items_with_suggestions(store.open_store(decided_runs.runs["folders"]))
    decided = {"train/" + path for path, _, _ in decided_runs.decisions}
    by_suggestion = flagged[flagged["is_label_issue"] & ~flagged["path"].isin(decided)]
    assert "train/blue/red_00.png" in set(by_suggestion["path"])  # the other planted error
    assert result.counts["relabelled_by_suggestion"] == len(by_suggestion)
    assert (out / "train/red/red_00.png").is_file()
    changes = pd.read_csv(out / "changes.csv")
    assert set(changes.loc[changes["source"] == "suggestion", "path"]) == set(by_suggestion["path"])


def test_jsonl_keeps_extra_keys_and_reads_back(decided_runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(decided_runs.runs["jsonl"], out)
    decided_runs.assert_untouched("jsonl")
    lines = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert {line["image"]: line["label"] for line in lines} == decided_runs.expected_labels("images/")
    assert all(set(line) == {"image", "label", "split", "note"} for line in lines)
    assert all((out / line["image"]).is_file() for line in lines)
    assert result.scan_command == f"labelfix scan {out / 'labels.jsonl'}"
    manifest = labelfix.read_dataset(out)
    assert manifest.source == "jsonl" and len(manifest) == 38


def test_csv_keeps_columns_and_reads_back(decided_runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(decided_runs.runs["csv"], out)
    decided_runs.assert_untouched("csv")
    rows = list(csv.DictReader((out / "pets.csv").open()))
    assert list(rows[0]) == ["file", "cls", "part", "source"] and {r["source"] for r in rows} == {"web"}
    assert {r["file"]: r["cls"] for r in rows} == decided_runs.expected_labels("images/")
    assert result.scan_command.endswith("--path-column file --label-column cls --split-column part")
    options = labelfix.dataset.ReaderOptions(path_column="file", label_column="cls", split_column="part")
    assert len(labelfix.read_dataset(out / "pets.csv", options)) == 38


@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
def test_folders_to_label_files(decided_runs, tmp_path, output_format):
    out = tmp_path / "clean"
    result = apply_run(decided_runs.runs["folders"], out, output_format=output_format)
    decided_runs.assert_untouched("folders")
    manifest = labelfix.read_dataset(out / f"labels.{output_format}",
                                     labelfix.dataset.ReaderOptions(split_column="split"
                                                                    if output_format == "csv" else None))
    assert {item.path: item.label for item in manifest.items} == decided_runs.expected_labels("")
    assert {item.split for item in manifest.items} == {"train", "val"}
    assert result.scan_command.endswith("--split-column split") == (output_format == "csv")


def test_jsonl_to_folders(decided_runs, tmp_path):
    out = tmp_path / "clean"
    apply_run(decided_runs.runs["jsonl"], out, output_format="folders")
    manifest = labelfix.read_dataset(out)
    assert len(manifest) == 38 and {item.split for item in manifest.items} == {"train", "val"}
    assert (out / "train/green/images/train/red/green_00.png").is_file()


def test_refusals(decided_runs, tmp_path):
    run, root = decided_runs.runs["folders"], decided_runs.roots["folders"]
    with pytest.raises(ApplyError, match="inside the dataset"):
        apply_run(run, root / "clean")
    with pytest.raises(ApplyError, match="holds the dataset"):
        apply_run(run, root.parent)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    with pytest.raises(ApplyError, match="not empty"):
        apply_run(run, tmp_path / "full")
    with pytest.raises(ApplyError, match="no apply.json"):
        apply_run(run, tmp_path / "full", overwrite=True)
    apply_run(run, tmp_path / "again")
    apply_run(run, tmp_path / "again", overwrite=True, output_format="jsonl")
    assert json.loads((tmp_path / "again" / "apply.json").read_text())["output"]["format"] == "jsonl"
    assert (tmp_path / "again" / "labels.jsonl").is_file() and not (tmp_path / "again" / "train/green/green_00.png").exists()
    decided_runs.assert_untouched("folders")


def test_changed_dataset_stops_with_the_file_named(decided_runs, tmp_path):
    root, run = decided_runs.fresh_copy("folders", tmp_path)
    decided, original = root / "train/green/green_03.png", (root / "train/green/green_03.png").read_bytes()
    decided.write_bytes((root / "train/green/green_04.png").read_bytes())
    with pytest.raises(DatasetError, match="green_03.png: its content differs.*scan it again"):
        apply_run(run, tmp_path / "clean")
    decided.write_bytes(original)
    (root / "train/red/red_07.png").unlink()
    with pytest.raises(DatasetError, match="red_07.png: missing"):
        apply_run(run, tmp_path / "clean")
    assert not (tmp_path / "clean").exists()


def test_file_name_labels_become_labels_jsonl(decided_runs, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for picture in sorted((decided_runs.roots["folders"] / "train").glob("*/*.png")):
        shutil.copy(picture, root / f"{picture.parent.name}__{picture.name}")
    run = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0, label_regex=r"^([a-z]+)__").run_dir
    db = store.open_store(run)
    table = store.items_with_suggestions(db)
    store.record_decisions(db, [(int(table.loc[table["path"] == "red__green_00.png", "item_id"].iloc[0]), "relabel", "green")], "bo")
    db.close()
    result = apply_run(run, tmp_path / "clean")
    assert result.output_format == "jsonl" and "does not rename" in result.notes[0]
    manifest = labelfix.read_dataset(tmp_path / "clean")
    assert {item.path: item.label for item in manifest.items}["red__green_00.png"] == "green"
    assert len(manifest) == 30  # the unreadable blue__broken.png is left out
