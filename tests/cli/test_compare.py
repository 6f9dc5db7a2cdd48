"""`labelfix compare`."""

from __future__ import annotations

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
