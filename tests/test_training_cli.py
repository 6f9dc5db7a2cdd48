"""The training commands through typer's CliRunner: train, lr-find, evaluate, predict, compare."""

from __future__ import annotations

import csv
import json

import pytest
import timm
import torch
from conftest import color_image, make_color_folders
from typer.testing import CliRunner

from labelfix.cli import app

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run: colour folders, test_efficientnet with random weights at 32 px, 2 epochs."""
    folder = tmp_path_factory.mktemp("cli")
    make_color_folders(folder / "colors", per_class=8)
    torch.manual_seed(0)
    torch.save(timm.create_model("test_efficientnet").state_dict(), folder / "tiny.pth")
    (folder / "train.yaml").write_text(
        "model:\n  name: test_efficientnet\n  image_size: 32\ndata:\n  workers: 0\n  batch_size: 8\n"
        "schedule:\n  epochs: 2\n  lr: 0.01\n"
    )
    result, output = _run("train", folder / "colors", "--config", folder / "train.yaml", "--weights", folder / "tiny.pth",
                          "--out", folder / "run", "--no-progress")
    assert result.exit_code == 0, output
    return folder, output


def test_train_prints_epochs_and_run_folder(trained):
    folder, output = trained
    assert "Run folder" in output and "val acc" in output
    config = (folder / "run" / "config.yaml").read_text()
    assert "image_size: 32" in config and "lr: 0.01" in config


def test_predict_writes_csv_and_json_with_top_k(trained, tmp_path):
    folder, _ = trained
    images = tmp_path / "new"
    images.mkdir()
    color_image((210, 40, 40), 99).save(images / "a.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    result, output = _run("predict", folder / "run" / "checkpoint.pt", images, folder / "colors" / "red" / "red_01.png",
                          "--output", tmp_path / "p.csv", "--top-k", 2, "--no-progress")
    assert result.exit_code == 0, output
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["a.png", "broken.jpg", "red_01.png"]
    assert rows[1]["error"] and not rows[1]["class"]
    assert rows[0]["class"] in {"red", "green", "blue"} and rows[0]["class"] == rows[0]["class_1"]
    assert float(rows[0]["probability_1"]) >= float(rows[0]["probability_2"])
    result, output = _run("predict", folder / "run" / "checkpoint.pt", images / "a.png", "--output", tmp_path / "p.json",
                          "--no-progress")
    assert result.exit_code == 0, output
    record = json.loads((tmp_path / "p.json").read_text())[0]
    assert len(record["top_k"]) == 3 and sum(p["probability"] for p in record["top_k"]) == pytest.approx(1, abs=1e-4)


def test_evaluate_writes_evaluation_and_confusion_matrix(trained, tmp_path):
    folder, _ = trained
    result, output = _run("evaluate", folder / "run" / "checkpoint.pt", folder / "colors", "--out", tmp_path / "e",
                          "--tta", "--no-progress")
    assert result.exit_code == 0, output
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert summary["images"] == 24 and summary["tta"] and (tmp_path / "e" / "confusion_matrix.png").is_file()
    assert sum(map(sum, summary["confusion_matrix"])) == 24


def test_lr_find_suggestion_lies_in_the_sweep_and_is_plotted(trained, tmp_path):
    folder, _ = trained
    from labelfix.config import load_train_config
    from labelfix.training.run import lr_find

    config = load_train_config(folder / "train.yaml", {"model.weights": folder / "tiny.pth"})
    sweep = lr_find(folder / "colors", config, tmp_path / "lr.png", steps=10)
    assert sweep.lrs.min() <= sweep.suggestion <= sweep.lrs.max() and (tmp_path / "lr.png").stat().st_size > 1000
    result, output = _run("lr-find", folder / "colors", "--config", folder / "train.yaml", "--weights",
                          folder / "tiny.pth", "--steps", 8, "--out", tmp_path / "cli.png")
    assert result.exit_code == 0, output
    assert "Suggested learning rate" in output and (tmp_path / "cli.png").is_file()


def test_compare_shows_differing_config_and_metrics(trained, tmp_path):
    folder, _ = trained
    other = tmp_path / "other"
    other.mkdir()
    for name in ("metrics.csv", "evaluation.json"):
        (other / name).write_text((folder / "run" / name).read_text())
    (other / "config.yaml").write_text((folder / "run" / "config.yaml").read_text().replace("seed: 0", "seed: 7"))
    result, output = _run("compare", folder / "run", other, "--output", tmp_path / "c.csv")
    assert result.exit_code == 0, output
    header = (tmp_path / "c.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["run", "seed"] and "best_val_accuracy" in header and "schedule.epochs" not in header


def test_unknown_checkpoint_exits_1(tmp_path):
    result, output = _run("predict", tmp_path / "missing.pt", tmp_path)
    assert result.exit_code == 1 and "checkpoint not found" in output


def test_help_for_the_training_commands():
    for command in ("train", "lr-find", "evaluate", "predict", "compare"):
        result, output = _run(command, "--help")
        assert result.exit_code == 0, output
    result, output = _run("scan", "--help")
    assert "--method" in output
