"""`labelfix evaluate`."""

from __future__ import annotations

import json

from helpers import run_cli


def test_evaluate_writes_evaluation_and_confusion_matrix(trained, tmp_path):
    folder, _ = trained
    result, output = run_cli("evaluate", folder / "run" / "checkpoint.pt", folder / "colors", "--out", tmp_path / "e",
                          "--tta", "--workers", 0, "--no-progress")
    assert result.exit_code == 0, output
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert summary["images"] == 24 and summary["tta"] and (tmp_path / "e" / "confusion_matrix.png").is_file()
    assert sum(map(sum, summary["confusion_matrix"])) == 24


def test_evaluate_prints_json_on_stdout(trained):
    folder, _ = trained
    result, _ = run_cli("evaluate", folder / "run" / "checkpoint.pt", folder / "colors", "--workers", 0,
                        "--no-progress", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["images"] == 24
