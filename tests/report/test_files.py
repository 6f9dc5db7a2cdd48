import json

import pandas as pd

from labelfix.report.files import corrected_records, write_corrected_labels


def _table():
    """Rows in review order (worst first), indexed by item as the issue table is."""
    return pd.DataFrame(
        {
            "path": ["b.png", "a.png", "c.png", "d.png"],
            "split": ["val", "", "", ""],
            "given_label": ["dog", "cat", "cat", "dog"],
            "suggested_label": ["cat", "cat", None, "dog"],
            "is_label_issue": [True, False, False, False],
            "is_unreadable_issue": [False, False, True, False],
        },
        index=[1, 0, 2, 3],
    )


def test_flagged_images_take_the_suggestion_and_keep_the_given_label_in_dataset_order():
    assert corrected_records(_table()) == [
        {"image": "a.png", "label": "cat"},
        {"image": "b.png", "label": "cat", "given_label": "dog", "split": "val"},
        {"image": "d.png", "label": "dog"},
    ]


def test_drop_flagged_leaves_flagged_and_unreadable_images_out(tmp_path):
    count = write_corrected_labels(tmp_path / "c.jsonl", _table(), drop_flagged=True)
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert count == 2 and [line["image"] for line in lines] == ["a.png", "d.png"]


def test_issues_csv_shows_formulas_as_text(tmp_path):
    from labelfix.report.files import write_issues_csv

    table = _table().assign(given_label=['=HYPERLINK("http://x","y")', "cat", "@cmd", "-1"])
    write_issues_csv(tmp_path / "issues.csv", table)
    text = (tmp_path / "issues.csv").read_text()
    assert '\'=HYPERLINK(""http://x"",""y"")' in text and ",'@cmd," in text and ",-1," in text


def test_issues_csv_numbers_and_missing_cells_are_written_as_pandas_writes_them(tmp_path):
    """Six significant digits (float32 too), blanks for NaN and None, inf as inf: what `to_csv(float_format="%.6g")`
    writes, without its per-value formatter."""
    from labelfix.report.files import write_issues_csv

    table = _table().assign(
        label_score=[0.123456789, float("nan"), 1.5e-7, float("inf")],
        outlier_z=pd.Series([-0.0, 2.0, 123456789.0, -3.25], dtype="float32"),
        fold=pd.array([1, None, 0, 4], dtype="Int64"),
        suggested_label=["cat", None, float("nan"), "=dog"],
    )
    write_issues_csv(tmp_path / "issues.csv", table)
    expected = table.assign(suggested_label=["cat", None, float("nan"), "'=dog"]).to_csv(index=False, float_format="%.6g")
    assert (tmp_path / "issues.csv").read_text() == expected
