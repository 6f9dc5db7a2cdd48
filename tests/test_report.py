import numpy as np
import pandas as pd

from labelfix.report.html import render_report


def test_user_data_is_escaped(tmp_path):
    table = pd.DataFrame(
        {
            "path": ["<b>x</b>.png", "y.png", "z.png"],
            "split": ["", "", ""],
            "given_label": ["<script>alert(1)</script>", "ok", "ok"],
            "suggested_label": ["ok", "ok", None],
            "label_score": [0.01, 0.9, np.nan],
            "is_label_issue": [True, False, False],
            "given_label_probability": [0.01, 0.9, np.nan],
            "suggested_label_probability": [0.99, 0.9, np.nan],
            "fold": [0, 1, None],
            "is_unreadable_issue": [False, False, True],
            "unreadable_reason": ["", "", "empty file (0 bytes)"],
        }
    )
    record = {"dataset": {"name": "d", "root": str(tmp_path)}, "started_at": "now", "model": {"name": "m", "architecture": "a"},
              "counts": {"folds": 2},
              "config": {"seed": 0, "label_issues": {"filter_by": "prune_by_class"},
                         "crossval": {"method": "embedding", "head": "logistic", "neighbor_weight": 0.3}}}
    html = render_report(table, ["<script>alert(1)</script>", "ok"], np.array([0.5, 0.0]), np.array([[0, 1], [0, 0]]),
                         record, tmp_path)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html
    assert "no preview" in html and "empty file (0 bytes)" in html
