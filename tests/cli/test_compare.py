"""`labelfix compare`."""

from __future__ import annotations

import csv

from helpers import run_cli


def test_compare_shows_differing_config_and_metrics(trained, tmp_path):
    folder, _ = trained
    other = tmp_path / "other"
    other.mkdir()
    for name in ("metrics.csv", "evaluation.json"):
        (other / name).write_text((folder / "run" / name).read_text())
    (other / "config.yaml").write_text((folder / "run" / "config.yaml").read_text().replace("seed: 0", "seed: 7"))
    result, output = run_cli("compare", folder / "run", other, "--output", tmp_path / "c.csv")
    assert result.exit_code == 0, output
    header = (tmp_path / "c.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["run", "seed"] and "best_val_accuracy" in header and "schedule.epochs" not in header


def test_compare_lists_an_ensemble_evaluation_beside_the_runs(trained, tmp_path):
    folder, _ = trained
    checkpoint = folder / "run" / "checkpoint.pt"
    result, output = run_cli("evaluate", checkpoint, checkpoint, folder / "colors", "--out", tmp_path / "ensemble",
                             "--workers", 0, "--no-progress")
    assert result.exit_code == 0, output
    result, output = run_cli("compare", folder / "run", tmp_path / "ensemble", "--output", tmp_path / "c.csv")
    assert result.exit_code == 0, output
    rows = {row["run"]: row for row in csv.DictReader(open(tmp_path / "c.csv"))}
    assert rows["ensemble"]["members"].startswith("soft vote of run ") and rows["ensemble"]["eval_accuracy"]
    assert rows["run"]["members"] == "" and rows["run"]["epochs"] == "20"


def test_compare_refuses_a_folder_that_is_neither(tmp_path):
    result, output = run_cli("compare", tmp_path)
    assert result.exit_code != 0 and "neither a training run folder" in output
