"""End to end on synthetic colour images with planted label errors (real lite0 backbone, CPU)."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import color_image, write_jsonl

import labelfix
from labelfix import features as features_module
from labelfix.errors import DatasetError


def test_scan_finds_planted_errors_and_writes_the_run(color_dataset, tmp_path):
    root, planted = color_dataset
    (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "blue" / "empty.png").write_bytes(b"")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    result = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()} == before  # untouched

    flagged = set(result.flagged["path"])
    assert set(planted) <= flagged
    assert len(flagged) <= len(planted) + 2
    suggestions = dict(zip(result.flagged["path"], result.flagged["suggested_label"]))
    assert all(suggestions[path] == true for path, true in planted.items())
    assert set(result.unreadable["path"]) == {"red/broken.jpg", "blue/empty.png"}

    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "corrected_labels.jsonl", "issues.csv", "labelfix.db", "report.html", "run.json"
    ]
    issues = pd.read_csv(run / "issues.csv")
    assert len(issues) == len(result.manifest) == 3 * 20 + 2
    assert issues["is_unreadable_issue"].head(2).all()  # worst first: unreadable, then needing review, by score
    readable = issues.iloc[2:]
    assert readable["needs_review"].is_monotonic_decreasing
    for _, block in readable.groupby("needs_review"):
        assert block["review_score"].is_monotonic_increasing
    assert issues["label_score"].dropna().between(0, 1).all()
    assert {"label_score", "is_label_issue", "given_label_probability", "suggested_label_probability", "fold"} <= set(issues)

    corrected = [json.loads(line) for line in (run / "corrected_labels.jsonl").read_text().splitlines()]
    assert len(corrected) == 3 * 20
    relabelled = {r["image"]: r["label"] for r in corrected if "given_label" in r}
    assert relabelled.keys() == flagged and all(relabelled[p] == t for p, t in planted.items())

    record = json.loads((run / "run.json").read_text())
    assert record["config"]["seed"] == 0 and record["counts"]["unreadable"] == 2
    assert record["model"]["weights_hash"] and record["dataset"]["content_hash"]
    assert {"read", "embed", "crossval", "find_issues", "write"} <= set(record["timings_seconds"])

    with sqlite3.connect(run / "labelfix.db") as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == len(result.manifest)
        assert db.execute("SELECT COUNT(*) FROM issues WHERE issue_type='label' AND is_issue=1").fetchone()[0] == len(flagged)
        assert db.execute("SELECT COUNT(*) FROM issues WHERE issue_type='unreadable'").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM probabilities").fetchone()[0] == 3 * 20

    html = (run / "report.html").read_text()
    assert "broken.jpg" in html and "data:image/jpeg;base64" in html and "given <em>red</em>" in html
    assert "blended 70:30" in html and "neighbors" in record["timings_seconds"]


def test_scan_is_reproducible_and_second_scan_uses_the_cache(color_dataset, tmp_path):
    root, _ = color_dataset
    first = labelfix.scan(root, out=tmp_path / "a", folds=3, workers=0, seed=1)
    second = labelfix.scan(root, out=tmp_path / "b", folds=3, workers=0, seed=1)
    assert second.record["counts"]["embedded"] == 0 and second.record["counts"]["from_cache"] == 60
    pd.testing.assert_frame_equal(first.issues, second.issues)
    (root / "red" / "new.png").write_bytes((root / "red" / "red_05.png").read_bytes())
    color_image((210, 40, 40), 999).save(root / "red" / "changed.png")
    third = labelfix.scan(root, out=tmp_path / "c", folds=3, workers=0, seed=1)
    assert third.record["counts"]["embedded"] == 1  # new.png has known content; only changed.png is embedded


def test_interrupted_scan_resumes_from_the_cache(color_dataset, tmp_path, monkeypatch):
    root, _ = color_dataset
    real_embed = features_module.embed_files

    def embed_then_interrupt(*args, **kwargs):
        batches = real_embed(*args, **kwargs)
        yield next(batches)
        raise KeyboardInterrupt

    monkeypatch.setattr(features_module, "embed_files", embed_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0, batch_size=16)
    assert not (tmp_path / "run" / "issues.csv").exists()

    monkeypatch.setattr(features_module, "embed_files", real_embed)
    result = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0, batch_size=16)
    assert result.record["counts"]["from_cache"] == 16
    assert result.record["counts"]["embedded"] == 60 - 16
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_jsonl_with_missing_file_lists_it_as_unreadable(tmp_path):
    root = tmp_path / "data"
    records = []
    for index in range(24):
        name, color = [("red", (210, 40, 40)), ("blue", (40, 70, 200))][index % 2]
        (root / "images").mkdir(parents=True, exist_ok=True)
        color_image(color, index).save(root / f"images/{index}.png")
        records.append({"image": f"images/{index}.png", "label": name})
    records.append({"image": "images/missing.png", "label": "red"})
    write_jsonl(root / "labels.jsonl", records)
    result = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0)
    assert result.unreadable["unreadable_reason"].tolist() == ["file not found"]


def test_all_files_unreadable_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "labels.jsonl", [{"image": f"{i}.png", "label": str(i % 2)} for i in range(4)])
    with pytest.raises(DatasetError, match="no usable images.*0.png: file not found"):
        labelfix.scan(tmp_path, out=tmp_path / "run")


def test_default_run_folder_is_never_inside_the_dataset(color_dataset, monkeypatch):
    root, _ = color_dataset
    monkeypatch.chdir(root)
    with pytest.raises(labelfix.LabelfixError, match="would be inside the dataset"):
        labelfix.scan(root)


def test_unknown_option_is_named():
    with pytest.raises(labelfix.LabelfixError, match="unknown scan option 'fold'"):
        labelfix.scan(".", fold=3)


def test_scan_finds_duplicates_outliers_and_health_problems(color_dataset, tmp_path):
    from PIL import Image

    root, _ = color_dataset
    Image.open(root / "red" / "red_03.png").save(root / "red" / "red_03_copy.bmp")  # same pixels, other format
    Image.open(root / "green" / "green_04.png").save(root / "blue" / "green_04_conflict.png")
    Image.new("RGB", (48, 48), (0, 0, 0)).save(root / "blue" / "black.png")
    (root / "red" / "red_05.png").rename(root / "red" / "red_05.jpg")  # PNG data under a .jpg name
    result = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0)
    issues = result.issues.set_index("path")
    assert issues.loc["red/red_03_copy.bmp", "is_exact_duplicate_issue"]
    assert issues.loc["red/red_03_copy.bmp", "exact_duplicate_group"] == issues.loc["red/red_03.png", "exact_duplicate_group"]
    assert issues.loc[["green/green_04.png", "blue/green_04_conflict.png"], "is_conflicting_duplicate_issue"].all()
    assert issues.loc["blue/black.png", ["is_dark_issue", "is_low_information_issue"]].all()
    assert issues.loc["red/red_05.jpg", "invalid_reason"] == "PNG data in a .jpg file"
    assert issues.loc["blue/green_04_conflict.png", "needs_review"]
    with sqlite3.connect(tmp_path / "run" / "labelfix.db") as db:
        types = {row[0] for row in db.execute("SELECT DISTINCT issue_type FROM issues WHERE is_issue = 1")}
        assert {"label", "exact_duplicate", "near_duplicate", "conflicting_duplicate", "dark", "invalid"} <= types
        assert db.execute("SELECT COUNT(*) FROM neighbors").fetchone()[0] == len(result.manifest) * 10
    assert result.record["counts"]["issues"]["exact_duplicate"] == 4  # two pairs of identical pixels


def test_the_neighbours_vote_is_blended_into_the_probabilities(color_dataset, tmp_path):
    root, _ = color_dataset
    head = labelfix.scan(root, out=tmp_path / "head", folds=3, workers=0, neighbor_weight=0.0)
    blended = labelfix.scan(root, out=tmp_path / "blended", folds=3, workers=0, neighbor_weight=0.3)
    vote = (blended.pred_probs - 0.7 * head.pred_probs) / 0.3
    np.testing.assert_allclose(vote.sum(axis=1), 1.0)
    assert (vote > -1e-9).all()
    labels = blended.manifest.label_indices()
    assert (vote.argmax(axis=1) == labels).mean() > 0.85  # neighbours of a colour mostly carry its label
    assert "blended" not in (tmp_path / "head" / "report.html").read_text()


def test_checks_can_be_switched_off(color_dataset, tmp_path):
    root, _ = color_dataset
    config = labelfix.load_config(None, {"checks.enabled": False})
    result = labelfix.scan(root, config, out=tmp_path / "run", folds=3, workers=0)
    assert not [c for c in result.issues if "duplicate" in c or "dark" in c]
    config = labelfix.load_config(None, {"checks.dark.enabled": False, "checks.outlier.threshold": 100.0})
    result = labelfix.scan(root, config, out=tmp_path / "run2", folds=3, workers=0)
    assert "is_dark_issue" not in result.issues and not result.issues["is_outlier_issue"].any()


def test_the_same_image_in_train_and_val_is_leakage(tmp_path):
    from conftest import make_color_folders

    root = tmp_path / "splits"
    make_color_folders(root / "train", per_class=16)
    make_color_folders(root / "val", per_class=4, first_seed=1000)
    leaked = root / "val" / "red" / "leaked.png"
    leaked.write_bytes((root / "train" / "red" / "red_07.png").read_bytes())
    result = labelfix.scan(root, out=tmp_path / "run", folds=3, workers=0)
    issues = result.issues.set_index("path")
    assert issues.loc[["train/red/red_07.png", "val/red/leaked.png"], "is_leakage_issue"].all()
    assert issues.loc["val/red/leaked.png", "split"] == "val"
    assert not issues.loc["val/red/leaked.png", "is_conflicting_duplicate_issue"]
