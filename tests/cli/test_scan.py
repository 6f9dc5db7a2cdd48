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
    assert "likely label errors" in result.stdout and "report.html" in result.stdout  # results: stdout
    assert "report.html" not in result.stderr
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


def test_json_results_are_all_that_goes_to_stdout(scanned, tmp_path):
    result, _ = run_cli("scan", scanned.root, "--out", tmp_path / "run", "--folds", 3, "--workers", 0, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # nothing else on stdout
    assert summary["run_dir"] == str(tmp_path / "run") and summary["counts"]["images"] == len(scanned.result.manifest)
    assert {row["path"] for row in summary["label_issues"]} == set(scanned.planted)


def test_a_path_that_does_not_exist_is_named_before_anything_loads(tmp_path):
    result, output = run_cli("scan", tmp_path / "typo")
    assert result.exit_code == 2 and "does not exist" in output


def test_any_config_value_from_the_command_line_and_errors_that_name_the_flag(scanned, tmp_path):
    result, output = run_cli("scan", scanned.root, "--out", tmp_path / "run", "--workers", 0, "--no-progress",
                             "--set", "crossval.folds=2", "--set", "checks.near_duplicate.threshold=0.2")
    assert result.exit_code == 0, output
    config = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert config["crossval"]["folds"] == 2 and config["checks"]["near_duplicate"]["threshold"] == 0.2
    for args, named in ((["--format", "xml"], "--format:"), (["--set", "crossval.fold=2"], "--set crossval.fold:"),
                        (["--set", "crossval.folds"], "write section.key=value")):
        result, output = run_cli("scan", scanned.root, "--out", tmp_path / "bad", *args)
        assert result.exit_code == 1 and named in output and "Traceback" not in output, output


def test_a_trained_checkpoint_is_the_backbone_of_the_next_scan(trained, tmp_path):
    """train → clean → scan again with what was learned: the checkpoint's features embed the images."""
    folder, _ = trained
    result, output = run_cli("scan", folder / "colors", "--checkpoint", folder / "run" / "checkpoint.pt", "--out",
                             tmp_path / "run", "--folds", 3, "--workers", 0, "--no-progress", "--json")
    assert result.exit_code == 0, output
    model = json.loads((tmp_path / "run" / "run.json").read_text())["model"]
    assert model["architecture"] == "test_efficientnet" and model["name"].startswith("checkpoint:")
    assert model["weights"].endswith("checkpoint.pt") and json.loads(result.stdout)["counts"]["images"] == 30
