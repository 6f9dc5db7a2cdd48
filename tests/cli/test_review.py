"""`labelfix review`."""

from __future__ import annotations

from helpers import copy_run, run_cli


def test_review_refuses_a_folder_without_a_run_and_serves_a_run(scanned, tmp_path, monkeypatch):
    result, output = run_cli("review", tmp_path)
    assert result.exit_code == 1 and "no labelfix.db here" in output and "labelfix scan --out" in output

    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    copy_run(scanned.run_dir, tmp_path / "run")
    result, output = run_cli("review", tmp_path / "run", "--port", 9123, "--reviewer", "ann")
    assert result.exit_code == 0, output
    assert served["host"] == "127.0.0.1" and served["port"] == 9123
    assert served["app"].state.session.reviewer == "ann" and "http://127.0.0.1:9123/" in output


def test_serving_other_machines_warns_that_there_is_no_login(scanned, tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    copy_run(scanned.run_dir, tmp_path / "run")
    result, output = run_cli("review", tmp_path / "run", "--host", "0.0.0.0", "--allow-host", "lab.example.org")
    assert result.exit_code == 0, output
    assert "warning" in output and "no login" in output
    assert "warning" not in run_cli("review", tmp_path / "run")[1]


def test_a_port_in_use_is_named_with_the_flag_to_change_it(scanned, tmp_path):
    import socket

    copy_run(scanned.run_dir, tmp_path / "run")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result, output = run_cli("review", tmp_path / "run", "--port", busy.getsockname()[1])
    assert result.exit_code == 1 and "--port" in output and "Traceback" not in output
