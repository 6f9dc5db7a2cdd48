"""The run folder: room and write access checked before the work, files written as a whole, an incomplete or
unreadable run never mistaken for a good one."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sqlite3
from contextlib import closing

import pytest

import labelfix
from helpers import copy_run, file_states, run_cli
from labelfix import store
from labelfix.errors import ConfigError, LabelfixError


@pytest.fixture
def run_dir(scanned, tmp_path):
    return copy_run(scanned.run_dir, tmp_path / "run")


def _no_embedding(*args, **kwargs):
    raise AssertionError("the check must come before the embedding")


def test_no_room_is_found_before_the_embedding(scanned, tmp_path, monkeypatch):
    monkeypatch.setattr("labelfix.pipeline.compute_features", _no_embedding)
    monkeypatch.setattr("labelfix.run_folder.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(ConfigError, match=r"1 MiB free, and this run needs about \d+ MiB.*--out"):
        labelfix.scan(scanned.root, out=tmp_path / "run", folds=3, workers=0)


def test_a_folder_that_cannot_be_written_is_found_before_the_embedding(scanned, tmp_path, monkeypatch):
    monkeypatch.setattr("labelfix.pipeline.compute_features", _no_embedding)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="cannot write the run folder .*a-file/run.*--out"):
        labelfix.scan(scanned.root, out=tmp_path / "a-file" / "run", folds=3, workers=0)
    with pytest.raises(ConfigError, match="cannot use the embedding cache .*a-file.*--cache-dir"):
        labelfix.scan(scanned.root, out=tmp_path / "run", folds=3, workers=0, cache_dir=tmp_path / "a-file" / "cache")


def _report_half_written(path, **kwargs):
    path.write_bytes(b"<html>half")
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def _store_full(*args):
    raise sqlite3.OperationalError("database or disk is full")  # as SQLite says it, in the middle of the transaction


@pytest.mark.parametrize("failing", [("labelfix.pipeline.write_report", _report_half_written),
                                     ("labelfix.store.write._neighbor_rows", _store_full)], ids=["report", "store"])
def test_a_full_disk_while_writing_leaves_the_earlier_run_as_it_was(scanned, run_dir, monkeypatch, failing):
    before = file_states(run_dir)
    monkeypatch.setattr(*failing)
    with pytest.raises((OSError, sqlite3.OperationalError), match="No space left|disk is full"):
        labelfix.scan(scanned.root, out=run_dir, folds=3, workers=0)
    assert file_states(run_dir) == before  # nothing new, nothing half-written, nothing left behind
    with closing(store.open_store(run_dir)) as db:  # and the earlier run is still whole
        assert store.current_run_id(db) == json.loads((run_dir / "run.json").read_text())["run_id"]


def test_the_command_line_names_a_full_disk_and_says_nothing_was_lost(scanned, run_dir, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "report.html"))

    monkeypatch.setattr("labelfix.pipeline.write_report", disk_full)
    result, output = run_cli("scan", scanned.root, "--out", run_dir, "--folds", "3", "--workers", "0")
    assert result.exit_code == 1 and "unexpected" not in output
    assert "No space left on device" in output and "report.html" in output and "earlier results" in output


def test_a_run_folder_a_scan_stopped_writing_is_refused_until_scanned_again(scanned, run_dir):
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "run_id": "another scan"}))  # killed before run.json
    with pytest.raises(LabelfixError, match="incomplete.*run the same `labelfix scan` again"):
        store.open_store(run_dir)
    (run_dir / "run.json").unlink()
    result, output = run_cli("apply", run_dir, "--to", run_dir.parent / "cleaned")
    assert result.exit_code == 1 and "incomplete" in output
    labelfix.scan(scanned.root, out=run_dir, folds=3, workers=0)
    store.open_store(run_dir).close()


def test_an_unreadable_store_is_set_aside_and_written_anew(scanned, run_dir, caplog):
    (run_dir / "labelfix.db").write_bytes(b"not a database at all" * 100)
    with caplog.at_level(logging.WARNING):
        labelfix.scan(scanned.root, out=run_dir, folds=3, workers=0)
    assert "could not be read" in caplog.text
    broken = list(run_dir.glob("labelfix.db.broken-*"))
    assert len(broken) == 1 and broken[0].read_bytes().startswith(b"not a database")
    store.open_store(run_dir).close()
