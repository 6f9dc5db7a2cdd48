"""The command line as a whole: help for every command, the version."""

from __future__ import annotations

from helpers import run_cli


def test_help_for_every_command():
    commands = ("scan", "download", "verify", "review", "apply", "train", "lr-find", "evaluate", "predict", "compare", "example")
    for command in ([], *([name] for name in commands), ["example", "digits"], ["example", "check"]):
        result, output = run_cli(*command, "--help")
        assert result.exit_code == 0, output
        assert "Usage" in output
    scan_help = run_cli("scan", "--help")[1]
    assert "Cross-validation folds [default: 5]" in scan_help and "--method" in scan_help  # brackets: text, not markup


def test_version():
    result, output = run_cli("--version")
    assert result.exit_code == 0 and output.startswith("labelfix ")
