"""`labelfix.scan` end to end on synthetic colour images with planted label errors (real lite0 backbone, CPU)."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

import labelfix
from helpers import color_image, file_states, make_color_folders, write_jsonl
from labelfix import pipeline
from labelfix.config import ScanConfig
from labelfix.dataset import read_dataset
from labelfix.devices import reduced_precision
from labelfix.errors import DatasetError
from labelfix.features import embed as embed_module
from labelfix.features.embed import compute_features


def test_scan_finds_planted_errors_and_writes_the_run(scanned):
    result, run = scanned.result, scanned.run_dir
    assert file_states(scanned.root) == scanned.files_before  # the dataset is untouched

    flagged = set(result.flagged["path"])
    assert set(scanned.planted) <= flagged
    assert len(flagged) <= len(scanned.planted) + 2
    suggestions = dict(zip(result.flagged["path"], result.flagged["suggested_label"]))
    assert all(suggestions[path] == true for path, true in scanned.planted.items())
    assert set(result.unreadable["path"]) == set(scanned.unreadable)

    assert sorted(p.name for p in run.iterdir()) == [
        "corrected_labels.jsonl", "issues.csv", "labelfix.db", "report.html", "run.json"
    ]
    images = 3 * 20 + 1 + 2
    issues = pd.read_csv(run / "issues.csv")
    assert len(issues) == len(result.manifest) == images
    assert issues["is_unreadable_issue"].head(2).all()  # worst first: unreadable, then needing review, by score
    readable = issues.iloc[2:]
    assert readable["needs_review"].is_monotonic_decreasing
    for _, block in readable.groupby("needs_review"):
        assert block["review_score"].is_monotonic_increasing
    assert issues["label_score"].dropna().between(0, 1).all()
    assert {"label_score", "is_label_issue", "given_label_probability", "suggested_label_probability", "fold"} <= set(issues)

    corrected = [json.loads(line) for line in (run / "corrected_labels.jsonl").read_text().splitlines()]
    assert len(corrected) == images - 2
    relabelled = {r["image"]: r["label"] for r in corrected if "given_label" in r}
    assert relabelled.keys() == flagged and all(relabelled[p] == t for p, t in scanned.planted.items())

    record = json.loads((run / "run.json").read_text())
    assert record["config"]["seed"] == 0 and record["counts"]["unreadable"] == 2
    assert record["model"]["weights_hash"] and record["dataset"]["content_hash"]
    assert {"read", "embed", "neighbors", "crossval", "find_issues", "write"} <= set(record["timings_seconds"])
    assert 0.9 < record["quality"]["out_of_fold_accuracy"] < 1  # the planted errors disagree

    with sqlite3.connect(run / "labelfix.db") as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == images
        assert db.execute("SELECT COUNT(*) FROM issues WHERE issue_type='label' AND is_issue=1").fetchone()[0] == len(flagged)
        assert db.execute("SELECT COUNT(*) FROM issues WHERE issue_type='unreadable'").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM probabilities").fetchone()[0] == images - 2

    html = (run / "report.html").read_text()
    assert "broken.jpg" in html and "data:image/jpeg;base64" in html and "given <em>red</em>" in html


def test_a_second_scan_reproduces_the_first_from_the_cache(scanned, scanned_copy, tmp_path):
    again = labelfix.scan(scanned_copy, out=tmp_path / "again", folds=3, workers=0)
    assert again.record["counts"]["embedded"] == 0 and again.record["counts"]["from_cache"] == 61
    pd.testing.assert_frame_equal(again.issues, scanned.result.issues)
    (scanned_copy / "red" / "new.png").write_bytes((scanned_copy / "red" / "red_05.png").read_bytes())
    color_image((210, 40, 40), 999).save(scanned_copy / "red" / "changed.png")
    third = labelfix.scan(scanned_copy, out=tmp_path / "third", folds=3, workers=0)
    assert third.record["counts"]["embedded"] == 1  # new.png has known content; only changed.png is embedded


def test_another_seed_changes_the_folds(scanned, scanned_copy, tmp_path):
    other = labelfix.scan(scanned_copy, out=tmp_path / "other", folds=3, workers=0, seed=1)
    assert not other.issues["fold"].equals(scanned.result.issues["fold"])


def test_interrupted_scan_resumes_from_the_cache(tmp_path, monkeypatch, fresh_cache):
    make_color_folders(tmp_path / "small", per_class=8)
    real_embed = embed_module.embed_files

    def embed_then_interrupt(*args, **kwargs):
        batches = real_embed(*args, **kwargs)
        yield next(batches)
        raise KeyboardInterrupt

    monkeypatch.setattr(embed_module, "embed_files", embed_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        labelfix.scan(tmp_path / "small", out=tmp_path / "run", folds=3, workers=0, batch_size=8)
    assert not (tmp_path / "run" / "issues.csv").exists()

    monkeypatch.setattr(embed_module, "embed_files", real_embed)
    result = labelfix.scan(tmp_path / "small", out=tmp_path / "run", folds=3, workers=0, batch_size=8)
    assert result.record["counts"]["from_cache"] == 8
    assert result.record["counts"]["embedded"] == 24 - 8
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_jsonl_with_missing_file_lists_it_as_unreadable(scanned_copy, tmp_path):
    records = [{"image": f"{name}/{name}_{i:02d}.png", "label": name} for name in ("green", "blue") for i in range(1, 12)]
    records.append({"image": "images/missing.png", "label": "green"})
    write_jsonl(scanned_copy / "labels.jsonl", records)
    result = labelfix.scan(scanned_copy / "labels.jsonl", out=tmp_path / "run", folds=3, workers=0)
    assert result.unreadable["path"].tolist() == ["images/missing.png"]
    assert result.unreadable["unreadable_reason"].tolist() == ["file not found"]


def test_all_files_unreadable_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "labels.jsonl", [{"image": f"{i}.png", "label": str(i % 2)} for i in range(4)])
    with pytest.raises(DatasetError, match="no usable images.*0.png: file not found"):
        labelfix.scan(tmp_path, out=tmp_path / "run")


def test_default_run_folder_is_never_inside_the_dataset(tmp_path, monkeypatch):
    make_color_folders(tmp_path / "tiny", per_class=2)
    monkeypatch.chdir(tmp_path / "tiny")
    with pytest.raises(labelfix.LabelfixError, match="would be inside the dataset"):
        labelfix.scan(tmp_path / "tiny")
    assert not (tmp_path / "tiny" / "labelfix-runs").exists()


def test_unknown_option_is_named():
    with pytest.raises(labelfix.LabelfixError, match="unknown scan option 'fold'"):
        labelfix.scan(".", fold=3)


def test_scan_finds_duplicates_outliers_and_health_problems(scanned_copy, tmp_path):
    from PIL import Image

    root = scanned_copy
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
    readable = len(result.manifest) - 2
    with sqlite3.connect(tmp_path / "run" / "labelfix.db") as db:
        types = {row[0] for row in db.execute("SELECT DISTINCT issue_type FROM issues WHERE is_issue = 1")}
        assert {"label", "exact_duplicate", "near_duplicate", "conflicting_duplicate", "dark", "invalid"} <= types
        assert db.execute("SELECT COUNT(*) FROM neighbors").fetchone()[0] == readable * 10
    assert result.record["counts"]["issues"]["exact_duplicate"] == 4  # two pairs of identical pixels


def test_with_all_weight_on_the_neighbours_an_image_gets_only_its_neighbours_labels(scanned_copy, tmp_path):
    """neighbor_weight 1: each image's probabilities are the vote of the neighbours stored with the run."""
    result = labelfix.scan(scanned_copy, out=tmp_path / "run", folds=3, workers=0, neighbor_weight=1.0)
    classes = list(result.manifest.classes)
    with sqlite3.connect(tmp_path / "run" / "labelfix.db") as db:
        rows = db.execute("SELECT n.item_id, l.label FROM neighbors n JOIN labels l ON l.item_id = n.neighbor_id").fetchall()
    voters: dict[int, set[str]] = {}
    for item_id, label in rows:
        voters.setdefault(item_id, set()).add(label)
    for item_id, labels in voters.items():
        probable = {classes[k] for k in np.flatnonzero(result.pred_probs[item_id] > 1e-3)}
        assert probable <= labels
        if len(labels) == 1:
            assert result.pred_probs[item_id, classes.index(next(iter(labels)))] > 0.99
    assert len(voters) == len(result.manifest) - 2
    assert "blended 0:100" in (tmp_path / "run" / "report.html").read_text()


def test_checks_can_be_switched_off(scanned_copy, tmp_path):
    config = labelfix.load_config(None, {"checks.enabled": False})
    result = labelfix.scan(scanned_copy, config, out=tmp_path / "run", folds=3, workers=0)
    assert result.record["counts"]["embedded"] == 0  # the embeddings cached with statistics serve
    assert not [c for c in result.issues if "duplicate" in c or "dark" in c]
    config = labelfix.load_config(None, {"checks.dark.enabled": False, "checks.outlier.threshold": 100.0})
    result = labelfix.scan(scanned_copy, config, out=tmp_path / "run2", folds=3, workers=0)
    assert "is_dark_issue" not in result.issues and not result.issues["is_outlier_issue"].any()


def test_the_same_image_in_train_and_val_is_leakage(tmp_path):
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


def test_fine_tuning_the_last_stages_ranks_the_planted_errors_worst(scanned, scanned_copy, tmp_path):
    result = labelfix.scan(scanned_copy, out=tmp_path / "run", folds=3, workers=0, method="last_stages", image_size=64)
    worst = result.issues.dropna(subset=["label_score"]).sort_values("label_score")["path"].head(len(scanned.planted))
    assert set(worst) == set(scanned.planted)
    assert result.record["quality"]["out_of_fold_accuracy"] > 0.9 and "embed_activations" in result.record["timings_seconds"]
    assert "last stages fine-tuned" in (tmp_path / "run" / "report.html").read_text()


def test_method_auto_keeps_the_embedding_head_when_it_agrees_with_the_labels(scanned):
    record = scanned.result.record
    assert record["config"]["crossval"]["method"] == "auto"
    assert record["crossval"]["method"] == "embedding"
    assert record["crossval"]["embedding_out_of_fold_accuracy"] == record["quality"]["out_of_fold_accuracy"] >= 0.85
    assert "embed_activations" not in record["timings_seconds"]


def test_method_auto_fine_tunes_the_last_stages_when_the_head_agrees_too_little(scanned, scanned_copy, tmp_path,
                                                                              monkeypatch):
    passes = []
    monkeypatch.setattr(pipeline, "compute_features", lambda *args, **kwargs: passes.append(kwargs) or
                        compute_features(*args, **kwargs))
    # the planted errors keep agreement under 100%: with the bar there, auto must go on to the last stages
    result = labelfix.scan(scanned_copy, out=tmp_path / "run", folds=3, workers=0, image_size=64, auto_below=1.0)
    assert [kwargs["with_activations"] for kwargs in passes] == [True]  # the mirror images run to the split only
    chosen = result.record["crossval"]
    assert chosen["method"] == "last_stages" and "below 100%" in chosen["auto_reason"]
    assert chosen["last_stages_epochs"] == 3  # auto, for so few images
    assert chosen["last_stages_split"] == "blocks.3"  # auto: one stage more, for so few images
    assert chosen["last_stages_runs"] == 4  # auto: the most runs, for so few images
    assert chosen["last_stages_precision"] == ("fp32" if reduced_precision(torch.device("cpu")) is None else "bf16")
    assert chosen["embedding_out_of_fold_accuracy"] < 1.0
    assert {"embed_activations", "last_stages"} <= set(result.record["timings_seconds"])
    worst = result.issues.dropna(subset=["label_score"]).sort_values("label_score")["path"].head(len(scanned.planted))
    assert set(worst) == set(scanned.planted)
    report = (tmp_path / "run" / "report.html").read_text()
    assert "last stages fine-tuned" in report and "so labelfix fine-tuned the backbone's last stages" in report

    too_big = labelfix.scan(scanned_copy, out=tmp_path / "run2", folds=3, workers=0, image_size=64, auto_below=1.0,
                            auto_max_images=10)
    assert too_big.record["crossval"]["method"] == "embedding"
    assert "auto_max_images" in too_big.record["crossval"]["auto_reason"]
    assert too_big.record["counts"]["embedded"] == 0  # the first scan's embeddings came from the cache

    # counting the unreadable files the first pass saw too much work to keep activations; the readable ones fit
    readable = len(result.issues) - len(scanned.unreadable)
    passes.clear()
    just_fits = labelfix.scan(scanned_copy, out=tmp_path / "run3", folds=3, workers=0, image_size=128,
                              auto_below=1.0, auto_max_images=readable)
    assert just_fits.record["crossval"]["method"] == "last_stages"
    assert [kwargs["with_activations"] for kwargs in passes] == [False, True]


def test_small_sets_fine_tune_one_stage_more_unless_a_split_is_named(scanned, monkeypatch):
    manifest = read_dataset(scanned.root)

    def split(**options) -> str:
        return pipeline.configured_backbone(ScanConfig(**options), manifest).split_module

    assert split() == "blocks.3"  # lite0's blocks.4 is at the same resolution: fine-tune it too
    assert split(crossval={"last_stages_split": "blocks.5"}) == "blocks.5"
    assert split(crossval={"method": "embedding"}) == "blocks.4"  # no fine-tuning: nothing to choose
    monkeypatch.setattr(pipeline, "one_more_stage", lambda n_images, side: False)  # a larger set
    assert split() == "blocks.4"
