"""`labelfix scan`: summary, exit codes, crash log."""

from __future__ import annotations

import json

from helpers import run_cli


def test_scan_prints_summary_and_report_path(scanned, tmp_path):
    root = scanned.root
    config = tmp_path / "labelfix.yaml"
    config.write_text("crossval:\n  folds: 3\nembedding:\n  workers: 0\n")
    result, output = run_cli("scan", root, "--out", tmp_path / "run", "--config", config, "--seed", 2, "--no-progress")
    assert result.exit_code == 0, output
    assert "likely label errors" in output and "report.html" in output
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["config"]["seed"] == 2 and record["config"]["crossval"]["folds"] == 3


def test_bad_input_exits_1_with_message_and_no_traceback(tmp_path):
    (tmp_path / "labels.jsonl").write_text("{oops\n")
    result, output = run_cli("scan", tmp_path, "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "labels.jsonl:1: not valid JSON" in output and "Traceback" not in output


def test_offline_hub_model_exits_1(scanned, tmp_path, offline):
    root = scanned.root
    result, output = run_cli("scan", root, "--model", "resnet18", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "--weights FILE" in output


def test_unexpected_error_writes_a_crash_log(scanned, tmp_path, monkeypatch, fresh_cache):
    import labelfix.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(labelfix.pipeline, "scan", broken)
    result, output = run_cli("scan", scanned.root, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "boom" in output
    logs = list((fresh_cache / "logs").glob("crash-*.log"))
    assert logs and "RuntimeError: boom" in logs[0].read_text()
