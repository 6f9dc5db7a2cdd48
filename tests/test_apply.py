"""labelfix apply: the pure core on hand-made values, then end to end over real tiny scans."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_color_folders, write_jsonl
from typer.testing import CliRunner

import labelfix
from labelfix import store
from labelfix.apply import (
    Change,
    CleanedDataset,
    Decision,
    KeptImage,
    RunItem,
    class_folder_path,
    clean_dataset,
    decisions_by_item,
    unique_paths,
)
from labelfix.apply_files import apply_run
from labelfix.apply_in_place import apply_in_place
from labelfix.cli import app
from labelfix.errors import ApplyError, DatasetError

# --- the pure core -------------------------------------------------------------------------------------------

ITEMS = (
    RunItem(0, "cat/0.jpg", "cat"),
    RunItem(1, "cat/1.jpg", "cat", suggested_label="dog", suggested_probability=0.9),
    RunItem(2, "dog/2.jpg", "dog", suggested_label="cat", suggested_probability=0.6),
    RunItem(3, "dog/3.jpg", "dog", unreadable=True),
    RunItem(4, "dog/4.jpg", "dog"),
)


def _decision(action, label=None):
    return Decision(action, label, "ann", "2026-01-01T00:00:00.000+00:00")


def _labels(cleaned: CleanedDataset) -> dict[str, str]:
    return {image.path: image.label for image in cleaned.kept}


def test_no_decisions_keeps_given_labels_and_drops_unreadable():
    cleaned = clean_dataset(ITEMS, {})
    assert _labels(cleaned) == {"cat/0.jpg": "cat", "cat/1.jpg": "cat", "dog/2.jpg": "dog", "dog/4.jpg": "dog"}
    assert cleaned.changes == (Change("dog/3.jpg", "remove", "dog", None, "unreadable"),)


def test_keep_unreadable():
    cleaned = clean_dataset(ITEMS, {}, keep_unreadable=True)
    assert _labels(cleaned)["dog/3.jpg"] == "dog" and cleaned.changes == ()


@pytest.mark.parametrize(
    ("threshold", "relabelled"),
    [(None, {}), (0.95, {}), (0.9, {"cat/1.jpg": "dog"}), (0.5, {"cat/1.jpg": "dog", "dog/2.jpg": "cat"})],
)
def test_unreviewed_suggestions_above_a_probability(threshold, relabelled):
    cleaned = clean_dataset(ITEMS, {}, accept_suggestions_above=threshold)
    given = {"cat/0.jpg": "cat", "cat/1.jpg": "cat", "dog/2.jpg": "dog", "dog/4.jpg": "dog"}
    assert _labels(cleaned) == {**given, **relabelled}
    assert [c for c in cleaned.changes if c.source == "suggestion"] == [
        Change(path, "accept", given[path], label, "suggestion") for path, label in relabelled.items()
    ]


def test_every_action():
    decisions = {
        0: _decision("relabel", "dog"),
        1: _decision("accept", "dog"),
        2: _decision("keep"),
        3: _decision("keep"),  # a reviewer's keep wins over the unreadable default
        4: _decision("remove"),
    }
    cleaned = clean_dataset(ITEMS, decisions, accept_suggestions_above=0.0)
    assert cleaned.kept == (
        KeptImage(0, "cat/0.jpg", "dog"), KeptImage(1, "cat/1.jpg", "dog"), KeptImage(2, "dog/2.jpg", "dog"),
        KeptImage(3, "dog/3.jpg", "dog"),
    )
    at = "2026-01-01T00:00:00.000+00:00"
    assert cleaned.changes == (
        Change("cat/0.jpg", "relabel", "cat", "dog", "review", "ann", at),
        Change("cat/1.jpg", "accept", "cat", "dog", "review", "ann", at),
        Change("dog/4.jpg", "remove", "dog", None, "review", "ann", at),
    )
    assert cleaned.counts() == {"kept": 4, "relabelled_by_review": 2, "relabelled_by_suggestion": 0,
                                "removed_by_review": 1, "unreadable_dropped": 0}


def test_relabel_to_the_given_label_is_no_change():
    cleaned = clean_dataset(ITEMS[:1], {0: _decision("relabel", "cat")})
    assert _labels(cleaned) == {"cat/0.jpg": "cat"} and cleaned.changes == ()


def test_decisions_by_item_from_the_store_table():
    table = pd.DataFrame({"item_id": [1], "action": ["remove"], "label": [None], "reviewer": ["bo"],
                          "decided_at": ["t1"]}, dtype=object)
    assert decisions_by_item(table) == {1: Decision("remove", None, "bo", "t1")}


def test_class_folder_paths_and_collisions():
    assert class_folder_path("cat/a.jpg", "dog", source_format="folders", split=None) == "dog/a.jpg"
    assert class_folder_path("valid/cat/x/a.jpg", "dog", source_format="folders", split="val") == "valid/dog/x/a.jpg"
    assert class_folder_path("images/a.jpg", "dog", source_format="jsonl", split="train") == "train/dog/images/a.jpg"
    assert unique_paths([(1, "dog/a.jpg"), (2, "dog/a.jpg"), (3, "dog/b")], {"dog/b"}) == {
        1: "dog/a.jpg", 2: "dog/a_2.jpg", 3: "dog/b_2"}


# --- end to end over real scans ----------------------------------------------------------------------------


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _scan(path: Path, out: Path, cache: Path, **options):
    return labelfix.scan(path, out=out, folds=3, workers=0, cache_dir=cache, **options)


def _decide(run: Path, prefix: str) -> None:
    """Record DECISIONS by "bo", then a relabel of the removed image by "ann" that is undone (the removal counts)."""
    db = store.open_store(run)
    table = store.items_with_suggestions(db)
    ids = dict(zip(table["path"], table["item_id"]))
    store.record_decisions(db, [(ids[prefix + path], action, label) for path, action, label in DECISIONS], reviewer="bo")
    removed = ids[prefix + "blue/blue_05.png"]
    store.record_decisions(db, [(removed, "relabel", "red")], reviewer="ann")
    assert store.undo_decision(db, removed)
    db.close()


DECISIONS = [  # (path, action, label) relative to the class of the folder layout below
    ("red/green_00.png", "accept", "green"),  # planted error (not flagged at this size; the review page shows it)
    ("green/green_03.png", "relabel", "blue"),
    ("blue/blue_05.png", "remove", None),
    ("red/red_04.png", "keep", None),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny datasets of the same images (class folders with splits, labels.jsonl, a CSV), scanned once,
    with the same decisions recorded; the source hashes are taken before anything is applied."""
    base = tmp_path_factory.mktemp("apply")
    cache = base / "cache"
    folders = base / "folders"
    make_color_folders(folders / "train", per_class=10, flips={"red": "blue", "green": "red"})
    make_color_folders(folders / "val", per_class=3, first_seed=500)
    (folders / "train" / "blue" / "broken.png").write_bytes(b"not a png")
    pictures = sorted(p.relative_to(folders).as_posix() for p in folders.rglob("*.png"))

    jsonl_root, csv_root = base / "jsonl", base / "csv"
    for root in (jsonl_root, csv_root):
        for relative in pictures:
            (root / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folders / relative, root / "images" / relative)
    entries = [(f"images/{p}", p.split("/")[1], p.split("/")[0]) for p in pictures]
    write_jsonl(jsonl_root / "labels.jsonl",
                [{"image": image, "label": label, "split": split, "note": i} for i, (image, label, split) in enumerate(entries)])
    with (csv_root / "pets.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "cls", "part", "source"])
        writer.writerows([(image, label, split, "web") for image, label, split in entries])

    scanned = {
        "folders": _scan(folders, base / "run-folders", cache).run_dir,
        "jsonl": _scan(jsonl_root, base / "run-jsonl", cache).run_dir,
        "csv": _scan(csv_root / "pets.csv", base / "run-csv", cache, path_column="file", label_column="cls",
                     split_column="part").run_dir,
    }
    for name, run in scanned.items():
        _decide(run, "train/" if name == "folders" else "images/train/")
    roots = {"folders": folders, "jsonl": jsonl_root, "csv": csv_root}
    return {"runs": scanned, "roots": roots, "hashes": {k: _hashes(v) for k, v in roots.items()}, "base": base}


def _expected_labels(prefix: str, flagged_undecided: dict[str, str] | None = None) -> dict[str, str]:
    """{original path: final label} for the recorded decisions, without the unreadable file."""
    labels = {}
    for split, per_class in (("train", 10), ("val", 3)):
        for name in ("red", "green", "blue"):
            for index in range(per_class):
                folder = {"red": "blue", "green": "red"}.get(name, name) if split == "train" and index == 0 else name
                labels[f"{prefix}{split}/{folder}/{name}_{index:02d}.png"] = folder
    for path, action, label in DECISIONS:
        key = f"{prefix}train/{path}"
        if action == "remove":
            del labels[key]
        elif label:
            labels[key] = label
    return {**labels, **(flagged_undecided or {})}


def _untouched(runs, name):
    assert _hashes(runs["roots"][name]) == runs["hashes"][name]


def test_folders_with_links(runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(runs["runs"]["folders"], out)
    _untouched(runs, "folders")
    assert result.counts == {"kept": 38, "relabelled_by_review": 2, "relabelled_by_suggestion": 0,
                             "removed_by_review": 1, "unreadable_dropped": 1}
    expected = {class_folder_path(path, label, source_format="folders", split="yes")
                for path, label in _expected_labels("").items()}
    assert set(_hashes(out)) == expected | {"changes.csv", "apply.json"}
    assert (out / "train/green/green_00.png").stat().st_ino == (runs["roots"]["folders"] / "train/red/green_00.png").stat().st_ino
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


def test_folders_copy_with_suggestions_and_unreadable_kept(runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(runs["runs"]["folders"], out, images="copy", accept_suggestions_above=0.0, keep_unreadable=True)
    _untouched(runs, "folders")
    assert (out / "train/blue/broken.png").is_file()
    assert (out / "train/green/green_00.png").stat().st_ino != (runs["roots"]["folders"] / "train/red/green_00.png").stat().st_ino
    flagged = store.items_with_suggestions(store.open_store(runs["runs"]["folders"]))
    decided = {"train/" + path for path, _, _ in DECISIONS}
    by_suggestion = flagged[flagged["is_label_issue"] & ~flagged["path"].isin(decided)]
    assert "train/blue/red_00.png" in set(by_suggestion["path"])  # the other planted error
    assert result.counts["relabelled_by_suggestion"] == len(by_suggestion)
    assert (out / "train/red/red_00.png").is_file()
    changes = pd.read_csv(out / "changes.csv")
    assert set(changes.loc[changes["source"] == "suggestion", "path"]) == set(by_suggestion["path"])


def test_jsonl_keeps_extra_keys_and_reads_back(runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(runs["runs"]["jsonl"], out)
    _untouched(runs, "jsonl")
    lines = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert {line["image"]: line["label"] for line in lines} == _expected_labels("images/")
    assert all(set(line) == {"image", "label", "split", "note"} for line in lines)
    assert all((out / line["image"]).is_file() for line in lines)
    assert result.scan_command == f"labelfix scan {out / 'labels.jsonl'}"
    manifest = labelfix.read_dataset(out)
    assert manifest.source == "jsonl" and len(manifest) == 38


def test_csv_keeps_columns_and_reads_back(runs, tmp_path):
    out = tmp_path / "clean"
    result = apply_run(runs["runs"]["csv"], out)
    _untouched(runs, "csv")
    rows = list(csv.DictReader((out / "pets.csv").open()))
    assert list(rows[0]) == ["file", "cls", "part", "source"] and {r["source"] for r in rows} == {"web"}
    assert {r["file"]: r["cls"] for r in rows} == _expected_labels("images/")
    assert result.scan_command.endswith("--path-column file --label-column cls --split-column part")
    options = labelfix.dataset.ReaderOptions(path_column="file", label_column="cls", split_column="part")
    assert len(labelfix.read_dataset(out / "pets.csv", options)) == 38


@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
def test_folders_to_label_files(runs, tmp_path, output_format):
    out = tmp_path / "clean"
    result = apply_run(runs["runs"]["folders"], out, output_format=output_format)
    _untouched(runs, "folders")
    manifest = labelfix.read_dataset(out / f"labels.{output_format}",
                                     labelfix.dataset.ReaderOptions(split_column="split"
                                                                    if output_format == "csv" else None))
    assert {item.path: item.label for item in manifest.items} == _expected_labels("")
    assert {item.split for item in manifest.items} == {"train", "val"}
    assert result.scan_command.endswith("--split-column split") == (output_format == "csv")


def test_jsonl_to_folders(runs, tmp_path):
    out = tmp_path / "clean"
    apply_run(runs["runs"]["jsonl"], out, output_format="folders")
    manifest = labelfix.read_dataset(out)
    assert len(manifest) == 38 and {item.split for item in manifest.items} == {"train", "val"}
    assert (out / "train/green/images/train/red/green_00.png").is_file()


def test_refusals(runs, tmp_path):
    run, root = runs["runs"]["folders"], runs["roots"]["folders"]
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
    with pytest.raises(ApplyError, match="--yes-modify-my-dataset"):
        apply_in_place(run, confirmed=False)
    _untouched(runs, "folders")


def _fresh_copy(runs, name: str, tmp_path: Path, **options) -> tuple[Path, Path]:
    """A copy of one dataset, scanned (embeddings from the cache) and decided like the others."""
    root = tmp_path / name
    shutil.copytree(runs["roots"][name], root)
    target = root / "pets.csv" if name == "csv" else root
    run = _scan(target, tmp_path / "run", runs["base"] / "cache", **options).run_dir
    _decide(run, "train/" if name == "folders" else "images/train/")
    return root, run


def test_changed_dataset_stops_with_the_file_named(runs, tmp_path):
    root, run = _fresh_copy(runs, "folders", tmp_path)
    decided, original = root / "train/green/green_03.png", (root / "train/green/green_03.png").read_bytes()
    decided.write_bytes((root / "train/green/green_04.png").read_bytes())
    with pytest.raises(DatasetError, match="green_03.png: its content differs.*scan it again"):
        apply_run(run, tmp_path / "clean")
    decided.write_bytes(original)
    (root / "train/red/red_07.png").unlink()
    with pytest.raises(DatasetError, match="red_07.png: missing"):
        apply_run(run, tmp_path / "clean")
    assert not (tmp_path / "clean").exists()


def test_in_place_folders_moves_and_backs_up(runs, tmp_path):
    root, run = _fresh_copy(runs, "folders", tmp_path)
    before = _hashes(root)
    result = apply_in_place(run, confirmed=True)
    after = _hashes(root)
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


def test_in_place_csv_rewrites_the_label_file(runs, tmp_path):
    root, run = _fresh_copy(runs, "csv", tmp_path, path_column="file", label_column="cls", split_column="part")
    original = (root / "pets.csv").read_text()
    images = {k: v for k, v in _hashes(root).items() if k.endswith(".png")}
    result = apply_in_place(run, confirmed=True)
    assert result.label_file_backup.read_text() == original and not result.label_file_backup.name.endswith(".csv")
    assert {k: v for k, v in _hashes(root).items() if k.endswith(".png")} == images
    rows = list(csv.DictReader((root / "pets.csv").open()))
    assert {r["file"]: r["cls"] for r in rows} == _expected_labels("images/")


def test_cli_apply_and_refusal(runs, tmp_path):
    runner = CliRunner()
    run = runs["runs"]["folders"]
    result = runner.invoke(app, ["apply", str(run), "--to", str(tmp_path / "clean"), "--images", "copy"])
    assert result.exit_code == 0, result.output
    assert "relabelled by review" in result.output and "clean" in result.output
    result = runner.invoke(app, ["apply", str(run), "--in-place"])
    assert result.exit_code == 1 and "--yes-modify-my-dataset" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["apply", str(run)])
    assert result.exit_code == 1 and "either --to" in result.output
    _untouched(runs, "folders")


def test_file_name_labels_become_labels_jsonl(runs, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for picture in sorted((runs["roots"]["folders"] / "train").glob("*/*.png")):
        shutil.copy(picture, root / f"{picture.parent.name}__{picture.name}")
    run = _scan(root, tmp_path / "run", runs["base"] / "cache", label_regex=r"^([a-z]+)__").run_dir
    db = store.open_store(run)
    table = store.items_with_suggestions(db)
    store.record_decisions(db, [(int(table.loc[table["path"] == "red__green_00.png", "item_id"].iloc[0]), "relabel", "green")], "bo")
    db.close()
    result = apply_run(run, tmp_path / "clean")
    assert result.output_format == "jsonl" and "does not rename" in result.notes[0]
    manifest = labelfix.read_dataset(tmp_path / "clean")
    assert {item.path: item.label for item in manifest.items}["red__green_00.png"] == "green"
    assert len(manifest) == 30  # the unreadable blue__broken.png is left out
