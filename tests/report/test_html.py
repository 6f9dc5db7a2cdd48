import numpy as np
import pandas as pd

from labelfix.report.html import render_report


def _table() -> pd.DataFrame:
    return pd.DataFrame(
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


def _record(tmp_path, neighbor_weight: float = 0.3) -> dict:
    return {"dataset": {"name": "d", "root": str(tmp_path)}, "started_at": "now", "model": {"name": "m", "architecture": "a"},
            "counts": {"folds": 2},
            "config": {"seed": 0, "label_issues": {"filter_by": "prune_by_class"},
                       "crossval": {"method": "embedding", "head": "logistic", "neighbor_weight": neighbor_weight}}}


def _render(tmp_path, record: dict) -> str:
    return render_report(_table(), ["<script>alert(1)</script>", "ok"], np.array([0.5, 0.0]),
                         np.array([[0, 1], [0, 0]]), record, tmp_path)


def test_user_data_is_escaped(tmp_path):
    html = _render(tmp_path, _record(tmp_path))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html
    assert "no preview" in html and "empty file (0 bytes)" in html


def test_the_report_says_how_the_probabilities_were_made(tmp_path):
    assert "blended 70:30" in _render(tmp_path, _record(tmp_path, 0.3))
    assert "blended" not in _render(tmp_path, _record(tmp_path, 0.0))


def test_the_report_says_how_far_to_trust_the_ranking(tmp_path):
    record = _record(tmp_path)
    html = _render(tmp_path, {**record, "quality": {"out_of_fold_accuracy": 0.97}})
    assert "97.0%" in html and "That is low" not in html
    html = _render(tmp_path, {**record, "quality": {"out_of_fold_accuracy": 0.81}})
    assert "81.0%" in html and "That is low" in html and "--method last_stages" in html
    record["config"]["crossval"]["method"] = "last_stages"
    html = _render(tmp_path, {**record, "quality": {"out_of_fold_accuracy": 0.81}})
    assert "That is low" in html and "--method finetune" in html


def test_a_large_dataset_gives_a_capped_report_that_says_what_it_left_out(tmp_path, monkeypatch):
    from labelfix.report import html as report_html

    n = 60
    table = pd.DataFrame({
        "path": [f"{i}.png" for i in range(n)], "split": "", "given_label": [f"c{i % 3}" for i in range(n)],
        "suggested_label": [f"c{(i + 1 + i // 3 % 2) % 3}" for i in range(n)], "label_score": np.linspace(0.01, 0.5, n),
        "is_label_issue": True, "given_label_probability": 0.1, "suggested_label_probability": 0.8, "fold": 0,
        "is_unreadable_issue": [i < 5 for i in range(n)], "unreadable_reason": "empty file (0 bytes)",
    })
    monkeypatch.setattr(report_html, "MAX_GROUPS", 2)
    monkeypatch.setattr(report_html, "MAX_PROBLEM_ROWS", 3)
    html = render_report(table, ["c0", "c1", "c2"], np.zeros(3), np.zeros((3, 3), int), _record(tmp_path), tmp_path)
    assert html.count('<div class="pair">') == 2
    assert "4 more groups" in html and "c2 → c0" in html  # the groups left out are listed with their counts
    assert "The first 3 of 5 are listed here" in html and "<td>4.png</td>" not in html and "<td>2.png</td>" in html
