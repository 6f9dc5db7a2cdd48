"""Carrying review decisions over to a re-scan: matched by the image's path within the dataset and its content.

A decision follows its image when the new scan has the same path with the same content, or, for an image that
was moved or renamed, the one new image with that content at a path the old run did not have. A decision whose
image changed (same path, other content) or vanished is not carried: it is kept aside (`dropped_decisions`) and
named in the run record, never applied to another image.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

EXAMPLES = 20  # paths named per reason in the run record; the store keeps them all


@dataclass
class Carried:
    rows: list[tuple] = field(default_factory=list)  # (new item_id, action, label, reviewer, decided_at, undone_at)
    dropped: list[tuple] = field(default_factory=list)  # (path, content_hash, reason, action, label, reviewer, decided_at, undone_at)
    kept: set[str] = field(default_factory=set)  # old paths whose decisions were carried, at the same path
    moved: dict[str, str] = field(default_factory=dict)  # old path -> new path
    changed: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """What the run record says about the carried decisions (images counted, not decision rows)."""
        return {
            "images_kept": len(self.kept),
            "images_moved": len(self.moved),
            "images_changed": len(self.changed),
            "images_vanished": len(self.vanished),
            "moved": dict(list(self.moved.items())[:EXAMPLES]),
            "changed": self.changed[:EXAMPLES],
            "vanished": self.vanished[:EXAMPLES],
        }


def carry_decisions(
    earlier: list[tuple],
    old_paths: set[str],
    paths: list[str],
    content_hashes: list[str | None],
) -> Carried:
    """Map `earlier` decision rows (path, content_hash, action, label, reviewer, decided_at, undone_at), oldest
    first, onto the new run's items (`paths` and `content_hashes` by item id). `old_paths` are all the old run's
    images, decided or not."""
    by_path = {path: i for i, path in enumerate(paths)}
    hash_counts = Counter(h for h in content_hashes if h is not None)
    by_hash = {h: i for i, h in enumerate(content_hashes) if h is not None and hash_counts[h] == 1}
    carried = Carried()
    targets: dict[str, int | None] = {}
    for path, content_hash, *decision in earlier:
        if path not in targets:
            targets[path] = _target(path, content_hash, by_path, by_hash, paths, content_hashes, old_paths, carried)
        target = targets[path]
        if target is None:
            reason = "changed" if path in by_path else "vanished"
            carried.dropped.append((path, content_hash, reason, *decision))
        else:
            carried.rows.append((target, *decision))
    return carried


def _target(path, content_hash, by_path, by_hash, paths, content_hashes, old_paths, carried: Carried) -> int | None:
    """The new item id the decisions of one old image go to, or None; records why in `carried`."""
    same_path = by_path.get(path)
    if same_path is not None:
        if content_hashes[same_path] == content_hash:
            carried.kept.add(path)
            return same_path
        carried.changed.append(path)
        return None
    moved_to = by_hash.get(content_hash)
    if moved_to is not None and paths[moved_to] not in old_paths:
        carried.moved[path] = paths[moved_to]
        return moved_to
    carried.vanished.append(path)
    return None
