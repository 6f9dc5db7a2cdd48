"""Where an image goes in a cleaned dataset laid out as class folders: pure functions over relative paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from labelfix.apply.rules import KeptImage
from labelfix.errors import ApplyError

SPLIT_FOLDERS = ("train", "val", "test")
REMOVED_FOLDER = ".labelfix-removed"  # in-place removals go here (hidden: the readers skip it)


def class_folder_path(path: str, label: str, *, source_format: str, split: str | None) -> str:
    """Where an image goes in a class-folder dataset: its class folder swapped for `label` when it came from
    class folders (`[split/]class/name`), else `[split/]label/<its relative path>`."""
    if source_format == "folders":
        parts = list(PurePosixPath(path).parts)
        parts[1 if split else 0] = label
        return "/".join(parts)
    return "/".join([*([split] if split else []), label, path])


def refuse_label_sets(kept: Iterable[KeptImage], fix: str) -> None:
    """Class folders hold one label per image: a label set among `kept` stops apply, saying `fix`."""
    if any(isinstance(image.label, tuple) for image in kept):
        raise ApplyError(f"class folders hold one label per image; {fix}")


def uses_split_folders(kept: Iterable[KeptImage]) -> bool:
    """Split folders only when every image has a split the class-folder reader recognises."""
    splits = [image.split for image in kept]
    return bool(splits) and all(split in SPLIT_FOLDERS for split in splits)


def unique_paths(wanted: Iterable[tuple[int, str]], occupied: set[str]) -> dict[int, str]:
    """{item_id: path}, in the order given; a path already occupied gets `_2`, `_3`, ... before its suffix."""
    taken, placed = set(occupied), {}
    for item_id, path in wanted:
        candidate, number = path, 1
        while candidate in taken:
            number += 1
            pure = PurePosixPath(path)
            candidate = str(pure.with_name(f"{pure.stem}_{number}{pure.suffix}"))
        taken.add(candidate)
        placed[item_id] = candidate
    return placed
