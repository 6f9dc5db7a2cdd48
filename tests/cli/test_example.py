"""`labelfix example`."""

from __future__ import annotations

from helpers import run_cli


def test_example_digits_and_check(tmp_path):
    result, output = run_cli("example", "digits", tmp_path / "digits", "--noise", 0.1)
    assert result.exit_code == 0, output
    truth = (tmp_path / "digits" / "planted_errors.csv").read_text().splitlines()
    assert len(truth) - 1 == 180 and len(list((tmp_path / "digits").rglob("*.png"))) == 1797
    run = tmp_path / "run"
    run.mkdir()
    flagged = [line.split(",")[0] for line in truth[1:91]] + ["0/0000.png"]
    (run / "issues.csv").write_text("path,is_label_issue\n" + "".join(f"{p},True\n" for p in flagged))
    result, output = run_cli("example", "check", tmp_path / "digits", run)
    assert result.exit_code == 0, output
    assert "Found 90 of 180" in output and "recall 50%" in output
