import json

from typer.testing import CliRunner

from labelfix.cli import app

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def test_help_for_every_command():
    commands = ("scan", "review", "apply", "train", "lr-find", "evaluate", "predict", "compare", "example")
    for command in ([], *([name] for name in commands), ["example", "digits"], ["example", "check"]):
        result, output = _run(*command, "--help")
        assert result.exit_code == 0, output
        assert "Usage" in output
    assert "Cross-validation folds [default: 5]" in _run("scan", "--help")[1]  # brackets are text, not markup


def test_scan_prints_summary_and_report_path(color_dataset, tmp_path):
    root, _ = color_dataset
    config = tmp_path / "labelfix.yaml"
    config.write_text("crossval:\n  folds: 3\nembedding:\n  workers: 0\n")
    result, output = _run("scan", root, "--out", tmp_path / "run", "--config", config, "--seed", 2, "--no-progress")
    assert result.exit_code == 0, output
    assert "likely label errors" in output and "report.html" in output
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["config"]["seed"] == 2 and record["config"]["crossval"]["folds"] == 3


def test_bad_input_exits_1_with_message_and_no_traceback(tmp_path):
    (tmp_path / "labels.jsonl").write_text("{oops\n")
    result, output = _run("scan", tmp_path, "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "labels.jsonl:1: not valid JSON" in output and "Traceback" not in output


def test_offline_hub_model_exits_1(color_dataset, tmp_path, offline):
    root, _ = color_dataset
    result, output = _run("scan", root, "--model", "resnet18", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "--weights FILE" in output


def test_unexpected_error_writes_a_crash_log(color_dataset, tmp_path, monkeypatch, isolated_cache):
    import labelfix.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(labelfix.pipeline, "scan", broken)
    root, _ = color_dataset
    result, output = _run("scan", root, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "boom" in output
    logs = list((isolated_cache / "logs").glob("crash-*.log"))
    assert logs and "RuntimeError: boom" in logs[0].read_text()


def test_example_digits_and_check(tmp_path):
    result, output = _run("example", "digits", tmp_path / "digits", "--noise", 0.1)
    assert result.exit_code == 0, output
    truth = (tmp_path / "digits" / "planted_errors.csv").read_text().splitlines()
    assert len(truth) - 1 == 180 and len(list((tmp_path / "digits").rglob("*.png"))) == 1797
    run = tmp_path / "run"
    run.mkdir()
    flagged = [line.split(",")[0] for line in truth[1:91]] + ["0/0000.png"]
    (run / "issues.csv").write_text("path,is_label_issue\n" + "".join(f"{p},True\n" for p in flagged))
    result, output = _run("example", "check", tmp_path / "digits", run)
    assert result.exit_code == 0, output
    assert "Found 90 of 180" in output and "recall 50%" in output


def test_version():
    result, output = _run("--version")
    assert result.exit_code == 0 and output.startswith("labelfix ")


def test_review_refuses_a_folder_without_a_run_and_serves_a_run(color_dataset, tmp_path, monkeypatch):
    result, output = _run("review", tmp_path)
    assert result.exit_code == 1 and "no labelfix.db here" in output and "labelfix scan --out" in output

    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    root, _ = color_dataset
    assert _run("scan", root, "--out", tmp_path / "run", "--folds", 3, "--no-progress")[0].exit_code == 0
    result, output = _run("review", tmp_path / "run", "--port", 9123, "--reviewer", "ann")
    assert result.exit_code == 0, output
    assert served["host"] == "127.0.0.1" and served["port"] == 9123
    assert served["app"].state.session.reviewer == "ann" and "http://127.0.0.1:9123/" in output
