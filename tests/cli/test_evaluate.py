"""`labelfix evaluate` (and an ensemble of checkpoints in evaluate and predict)."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import run_cli
from labelfix.errors import ModelError
from labelfix.training.ensemble import load_members


def test_evaluate_writes_evaluation_and_confusion_matrix(trained, tmp_path):
    folder, _ = trained
    result, output = run_cli("evaluate", folder / "run" / "checkpoint.pt", folder / "colors", "--out", tmp_path / "e",
                          "--tta", "--workers", 0, "--no-progress")
    assert result.exit_code == 0, output
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert summary["images"] == 30 and summary["tta"] and (tmp_path / "e" / "confusion_matrix.png").is_file()
    assert sum(map(sum, summary["confusion_matrix"])) == 30


def test_evaluate_prints_json_on_stdout(trained):
    folder, _ = trained
    result, _ = run_cli("evaluate", folder / "run" / "checkpoint.pt", folder / "colors", "--workers", 0,
                        "--no-progress", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["images"] == 30


def test_several_checkpoints_predict_and_evaluate_as_one(trained, tmp_path):
    folder, _ = trained
    checkpoint = folder / "run" / "checkpoint.pt"
    result, output = run_cli("evaluate", checkpoint, checkpoint, folder / "colors", "--workers", 0, "--no-progress",
                             "--json", "--vote", "hard")
    assert result.exit_code == 0, output
    summary = json.loads(result.stdout)
    assert summary["vote"] == "hard" and [m["accuracy"] for m in summary["members"]] == [summary["accuracy"]] * 2
    result, output = run_cli("predict", checkpoint, checkpoint, folder / "colors" / "red", "--workers", 0,
                             "--no-progress", "--json")
    assert result.exit_code == 0, output
    assert {row["class"] for row in json.loads(result.stdout)} == {"red"}
    payload = torch.load(checkpoint, weights_only=True)
    payload["classes"] = payload["classes"][::-1]
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="must share them"):
        load_members([checkpoint, tmp_path / "other.pt"])
