import pandas as pd

from labelfix.spreadsheet import safe_cell, safe_table


def test_formulas_become_text_and_numbers_stay_numbers():
    assert safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [safe_cell(v) for v in ("+SUM(1,2)", "@cmd", "-cat", "\tx")] == ["'+SUM(1,2)", "'@cmd", "'-cat", "'\tx"]
    assert [safe_cell(v) for v in ("-1", "+2.5", "1e-3", "cat", "", 3, None)] == ["-1", "+2.5", "1e-3", "cat", "", 3, None]


def test_tables_keep_their_numbers_and_flags():
    table = pd.DataFrame({"path": ["=1+1.png", "a.png"], "score": [-0.5, 0.2], "flag": [True, False]})
    safe = safe_table(table)
    assert safe["path"].tolist() == ["'=1+1.png", "a.png"] and safe["score"].tolist() == [-0.5, 0.2]
    assert table["path"].tolist() == ["=1+1.png", "a.png"]  # the original is left alone
