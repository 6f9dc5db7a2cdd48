"""`labelfix apply` through typer's CliRunner."""

from typer.testing import CliRunner

from labelfix.cli import app


def test_cli_apply_and_refusal(decided_runs, tmp_path):
    runner = CliRunner()
    run = decided_runs.runs["folders"]
    result = runner.invoke(app, ["apply", str(run), "--to", str(tmp_path / "clean"), "--images", "copy"])
    assert result.exit_code == 0, result.output
    assert "relabelled by review" in result.output and "clean" in result.output
    result = runner.invoke(app, ["apply", str(run), "--in-place"])
    assert result.exit_code == 1 and "--yes-modify-my-dataset" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["apply", str(run)])
    assert result.exit_code == 1 and "either --to" in result.output
    decided_runs.assert_untouched("folders")


def test_apply_before_any_review_says_what_was_left_undecided(scanned, tmp_path):
    from helpers import copy_run

    run = copy_run(scanned.run_dir, tmp_path / "run")
    result = CliRunner().invoke(app, ["apply", str(run), "--to", str(tmp_path / "clean")])
    assert result.exit_code == 0, result.output
    assert f"{len(scanned.planted)} flagged images were not reviewed" in result.output
    assert "--accept-suggestions-above 0.9" in result.output and "labelfix review" in result.output
