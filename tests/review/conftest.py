"""A private copy of the session's scanned run per test, and the review app over it."""

from __future__ import annotations

import pytest

from helpers import copy_run, review_client
from labelfix.review import create_app


@pytest.fixture
def run_dir(scanned, tmp_path):
    """A fresh copy of the scanned run per test, so decisions do not leak between tests."""
    return copy_run(scanned.run_dir, tmp_path / "run")


@pytest.fixture
def client(run_dir):
    """A client that sends the run id with each change, as the page does."""
    with review_client(create_app(run_dir, reviewer="tester")) as test_client:
        yield test_client


@pytest.fixture
def multilabel_run_dir(multilabel_scanned, tmp_path):
    """A fresh copy of the session's multi-label run per test."""
    return copy_run(multilabel_scanned.result.run_dir, tmp_path / "multilabel-run")
