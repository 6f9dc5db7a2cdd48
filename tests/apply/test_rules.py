"""The pure rules of apply on hand-made values: which label each image ends with, and every change."""

import pandas as pd
import pytest

from labelfix.apply.rules import Change, CleanedDataset, Decision, KeptImage, RunItem, clean_dataset, decisions_by_item

ITEMS = (
    RunItem(0, "cat/0.jpg", "cat"),
    RunItem(1, "cat/1.jpg", "cat", suggested_label="dog", suggested_probability=0.9),
    RunItem(2, "dog/2.jpg", "dog", suggested_label="cat", suggested_probability=0.6),
    RunItem(3, "dog/3.jpg", "dog", unreadable=True),
    RunItem(4, "dog/4.jpg", "dog"),
)



def _decision(action, label=None):
    return Decision(action, label, "ann", "2026-01-01T00:00:00.000+00:00")


def _labels(cleaned: CleanedDataset) -> dict[str, str]:
    return {image.path: image.label for image in cleaned.kept}


def test_no_decisions_keeps_given_labels_and_drops_unreadable():
    cleaned = clean_dataset(ITEMS, {})
    assert _labels(cleaned) == {"cat/0.jpg": "cat", "cat/1.jpg": "cat", "dog/2.jpg": "dog", "dog/4.jpg": "dog"}
    assert cleaned.changes == (Change("dog/3.jpg", "remove", "dog", None, "unreadable"),)


def test_keep_unreadable():
    cleaned = clean_dataset(ITEMS, {}, keep_unreadable=True)
    assert _labels(cleaned)["dog/3.jpg"] == "dog" and cleaned.changes == ()


@pytest.mark.parametrize(
    ("threshold", "relabelled"),
    [(None, {}), (0.95, {}), (0.9, {"cat/1.jpg": "dog"}), (0.5, {"cat/1.jpg": "dog", "dog/2.jpg": "cat"})],
)
def test_unreviewed_suggestions_above_a_probability(threshold, relabelled):
    cleaned = clean_dataset(ITEMS, {}, accept_suggestions_above=threshold)
    given = {"cat/0.jpg": "cat", "cat/1.jpg": "cat", "dog/2.jpg": "dog", "dog/4.jpg": "dog"}
    assert _labels(cleaned) == {**given, **relabelled}
    assert [c for c in cleaned.changes if c.source == "suggestion"] == [
        Change(path, "accept", given[path], label, "suggestion") for path, label in relabelled.items()
    ]
    assert cleaned.counts()["flags_left_undecided"] == 2 - len(relabelled)  # flagged, undecided, kept as given
    note = cleaned.undecided_note("runs/x")
    assert (note is None) == (len(relabelled) == 2)
    if note and threshold is None:
        assert note.startswith("2 flagged images were not reviewed") and "(1 of them)" in note


def test_every_action():
    decisions = {
        0: _decision("relabel", "dog"),
        1: _decision("accept", "dog"),
        2: _decision("keep"),
        3: _decision("keep"),  # a reviewer's keep wins over the unreadable default
        4: _decision("remove"),
    }
    cleaned = clean_dataset(ITEMS, decisions, accept_suggestions_above=0.0)
    assert cleaned.kept == (
        KeptImage(0, "cat/0.jpg", "dog"), KeptImage(1, "cat/1.jpg", "dog"), KeptImage(2, "dog/2.jpg", "dog"),
        KeptImage(3, "dog/3.jpg", "dog"),
    )
    at = "2026-01-01T00:00:00.000+00:00"
    assert cleaned.changes == (
        Change("cat/0.jpg", "relabel", "cat", "dog", "review", "ann", at),
        Change("cat/1.jpg", "accept", "cat", "dog", "review", "ann", at),
        Change("dog/4.jpg", "remove", "dog", None, "review", "ann", at),
    )
    assert cleaned.counts() == {"kept": 4, "relabelled_by_review": 2, "relabelled_by_suggestion": 0,
                                "removed_by_review": 1, "unreadable_dropped": 0, "flags_left_undecided": 0}


def test_relabel_to_the_given_label_is_no_change():
    cleaned = clean_dataset(ITEMS[:1], {0: _decision("relabel", "cat")})
    assert _labels(cleaned) == {"cat/0.jpg": "cat"} and cleaned.changes == ()


def test_decisions_by_item_from_the_store_table():
    table = pd.DataFrame({"item_id": [1], "action": ["remove"], "label": [None], "reviewer": ["bo"],
                          "decided_at": ["t1"]}, dtype=object)
    assert decisions_by_item(table) == {1: Decision("remove", None, "bo", "t1")}


def test_label_sets_take_each_flagged_entry_over_the_threshold_on_its_own():
    items = (RunItem(0, "a.jpg", ("cat",), suggested_label=("dog",),
                     suggested_changes=(("dog", True, 0.95), ("cat", False, 0.7))),
             RunItem(1, "b.jpg", ("cat", "sofa")))
    assert _labels(clean_dataset(items, {})) == {"a.jpg": ("cat",), "b.jpg": ("cat", "sofa")}
    at_90 = clean_dataset(items, {}, accept_suggestions_above=0.9)
    assert _labels(at_90)["a.jpg"] == ("cat", "dog")  # dog added; cat kept (0.7 < 0.9)
    assert at_90.changes == (Change("a.jpg", "accept", ("cat",), ("cat", "dog"), "suggestion"),)
    assert _labels(clean_dataset(items, {}, accept_suggestions_above=0.6))["a.jpg"] == ("dog",)
    assert clean_dataset(items, {}).undecided_note("run", 0.9).endswith("(1 of them)")
    assert at_90.changes_table().loc[0, "final_label"] == '["cat", "dog"]'
