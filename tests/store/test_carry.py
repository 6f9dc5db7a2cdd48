"""Carrying review decisions over to a re-scan, by path and content: kept, moved, changed, vanished."""

from __future__ import annotations

from labelfix.store.carry import carry_decisions


def decision(path: str, content_hash: str | None, action: str = "remove") -> tuple:
    return (path, content_hash, action, None, "ann", "2026-11-27T10:00:00", None)


def test_a_decision_follows_its_image_by_path_and_content():
    earlier = [decision("a.png", "A"), decision("b.png", "B"), decision("c.png", "C"), decision("d.png", "D"),
               decision("a.png", "A", "keep")]
    old_paths = {"a.png", "b.png", "c.png", "d.png"}
    # a new file first (every id shifts), a kept, b renamed, c changed, d gone
    carried = carry_decisions(earlier, old_paths, ["new.png", "a.png", "moved/b.png", "c.png"], ["N", "A", "B", "C2"])
    assert [row[:2] for row in carried.rows] == [(1, "remove"), (2, "remove"), (1, "keep")]  # oldest first
    assert [(row[0], row[2]) for row in carried.dropped] == [("c.png", "changed"), ("d.png", "vanished")]
    summary = carried.summary()
    assert (summary["images_kept"], summary["images_moved"], summary["images_changed"], summary["images_vanished"]) == (1, 1, 1, 1)
    assert summary["moved"] == {"b.png": "moved/b.png"}


def test_content_alone_never_picks_between_copies_or_takes_another_images_place():
    earlier = [decision("gone1.png", "X"), decision("gone2.png", "Y")]
    # X now exists twice (which copy?); Y sits at a path the old run already had (that image's own place)
    carried = carry_decisions(earlier, {"gone1.png", "gone2.png", "old.png"}, ["x1.png", "x2.png", "old.png"], ["X", "X", "Y"])
    assert carried.rows == [] and [row[2] for row in carried.dropped] == ["vanished", "vanished"]


def test_an_unreadable_image_keeps_its_decision_while_it_stays_unreadable():
    carried = carry_decisions([decision("broken.jpg", None)], {"broken.jpg"}, ["broken.jpg"], [None])
    assert [row[0] for row in carried.rows] == [0]
