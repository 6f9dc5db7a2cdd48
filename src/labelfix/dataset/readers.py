"""Readers: class folders, labels.jsonl, CSV and file-name regex, each returning a `Manifest`."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from labelfix.dataset.manifest import Item, Manifest
from labelfix.errors import DatasetError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
FORMATS = ("auto", "folders", "jsonl", "csv", "regex")
TASKS = ("auto", "single", "multilabel")


@dataclass(frozen=True)
class ReaderOptions:
    """How to read a dataset. `format="auto"` detects the layout from what is on disk."""

    format: str = "auto"
    path_column: str = "image"
    label_column: str = "label"
    split_column: str | None = None
    label_separator: str | None = None  # splits a CSV label cell into several labels (multi-label)
    label_regex: str | None = None
    task: str = "auto"  # multilabel: label sets even where every image has one; auto: from the data


def read_dataset(path: str | Path, options: ReaderOptions = ReaderOptions(), *, min_classes: int = 2) -> Manifest:
    """Read the dataset at `path` (a folder or a label file) into a Manifest; fewer than `min_classes` classes
    is an error (a dataset to clean or train on needs two; extra training images may have one)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder; give the dataset folder or its label file")
    layout = _detect_format(path, options)
    log.info("reading %s as %s", path, layout)
    if layout == "regex":
        manifest = read_regex(path, options.label_regex or "")
    elif layout == "folders":
        manifest = read_class_folders(path)
    else:
        label_file = path if path.is_file() else _find_label_file(path, layout)
        manifest = read_jsonl(label_file, options) if layout == "jsonl" else read_csv(label_file, options)
    manifest = with_task(with_normalized_labels(manifest), options.task, path)
    _check_usable(manifest, path, min_classes)
    return manifest


def with_task(manifest: Manifest, task: str, path: Path) -> Manifest:
    """The manifest as a single- or multi-label dataset: `auto` is multi-label when a label file gave lists or a
    separator (the reader sets it) or an image has other than one label; `single` refuses an image without
    exactly one label, naming it."""
    if task not in TASKS:
        raise DatasetError(f"--task {task}: one of {', '.join(TASKS)}")
    if task == "single":
        for item in manifest.items:
            if len(item.labels) != 1:
                where = f"{manifest.label_file}:{item.source_line}" if item.source_line else f"{path}: {item.path}"
                raise DatasetError(f"{where}: {len(item.labels)} labels {list(item.labels)} in a single-label "
                                   "dataset (--task single); give one label per image, or --task multilabel")
        return replace(manifest, multilabel=False)
    multilabel = task == "multilabel" or manifest.multilabel or any(len(item.labels) != 1 for item in manifest.items)
    return replace(manifest, multilabel=multilabel)


def normalized_label(label: str) -> str:
    """A label without surrounding spaces, in Unicode's composed form (NFC): 'café' typed two ways is one class."""
    return unicodedata.normalize("NFC", label.strip())


def with_normalized_labels(manifest: Manifest) -> Manifest:
    """The manifest with every label normalised; labels that became one are named in a warning."""
    spellings: dict[str, set[str]] = {}
    for item in manifest.items:
        for label in item.labels:
            spellings.setdefault(normalized_label(label), set()).add(label)
    merged = {label: sorted(forms) for label, forms in spellings.items() if len(forms) > 1 or forms != {label}}
    if not merged:
        return manifest
    named = [f"{' / '.join(map(repr, forms))} → {label!r}" for label, forms in sorted(merged.items())]
    log.warning("labels that differ only in surrounding spaces or Unicode form were made one: %s", "; ".join(named))
    items = tuple(replace(item, labels=tuple(dict.fromkeys(normalized_label(label) for label in item.labels)))
                  for item in manifest.items)
    return replace(manifest, items=items)


def _detect_format(path: Path, options: ReaderOptions) -> str:
    if options.format not in FORMATS:
        raise DatasetError(f"unknown dataset format '{options.format}'; use one of {', '.join(FORMATS)}")
    if options.format != "auto":
        return options.format
    if options.label_regex:
        return "regex"
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".csv"):
            return suffix[1:]
        raise DatasetError(f"{path}: a label file must end in .jsonl or .csv; or give the dataset folder")
    for layout in ("jsonl", "csv"):
        if (path / f"labels.{layout}").is_file():
            return layout
    if any(is_image_file(p) for folder in _subfolders(path) for p in folder.rglob("*")):
        return "folders"
    for layout in ("jsonl", "csv"):
        if list(path.glob(f"*.{layout}")):
            return layout
    return "folders"


def _find_label_file(folder: Path, layout: str) -> Path:
    preferred = folder / f"labels.{layout}"
    if preferred.is_file():
        return preferred
    candidates = sorted(folder.glob(f"*.{layout}"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DatasetError(f"{folder}: no *.{layout} label file found; give the label file's path")
    names = ", ".join(c.name for c in candidates)
    raise DatasetError(f"{folder}: several label files ({names}); give the one to use as the path")


def _check_usable(manifest: Manifest, path: Path, min_classes: int) -> None:
    if not manifest.items:
        raise DatasetError(
            f"{path}: no images found. Expected class folders (root/<class>/*.jpg), labels.jsonl, "
            f"a CSV, or --label-regex; image types: {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    if len(manifest.classes) < min_classes:
        only = manifest.classes[0] if manifest.classes else "none"
        raise DatasetError(
            f"{path}: only one class ({only}) found; label issues need at least two classes. "
            "For class folders, put each class in its own sub-folder"
        )


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def image_files_under(folder: Path, *, inside: Path | None = None) -> list[Path]:
    """Image files under `folder`, recursively, in a sorted, platform-independent order.

    With `inside`, a file that a link leads to outside that folder is left out, and so is a link that leads
    nowhere (or to itself); both are named in a warning.
    """
    files, skipped, refused = [], 0, []
    paths = PathsUnder(inside) if inside is not None else None
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.exists():
            refused.append(f"{path} (a link that leads nowhere)")
        elif is_image_file(path):
            if paths is not None and not paths.contains(path):
                refused.append(f"{path} (a link out of the dataset folder)")
            else:
                files.append(path)
        elif path.is_file() and not path.name.startswith("."):
            skipped += 1
    if skipped:
        log.warning("%s: skipped %d files that do not have an image extension", folder, skipped)
    if refused:
        log.warning("%s: left out %d files: %s", folder, len(refused), "; ".join(refused[:5]) + (" ..." if len(refused) > 5 else ""))
    return files


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_class_folders(root: Path) -> Manifest:
    """`root/<class>/*` or `root/{train,val,test}/<class>/*` (the split is kept)."""
    root = root.resolve()
    folders = _subfolders(root)
    split_folders = [f for f in folders if f.name.lower() in SPLIT_NAMES and _subfolders(f)]
    if split_folders and len(split_folders) == len(folders):
        class_folders = [(SPLIT_NAMES[s.name.lower()], c) for s in split_folders for c in _subfolders(s)]
    else:
        class_folders = [(None, c) for c in folders]
    loose = [p.name for p in root.iterdir() if is_image_file(p)]
    if loose:
        log.warning("%s: %d images directly in the root have no class folder and are ignored", root, len(loose))
    items = [
        Item(path=image.relative_to(root).as_posix(), labels=(folder.name,), split=split)
        for split, folder in class_folders
        for image in image_files_under(folder, inside=root)
    ]
    return Manifest(root=root, items=tuple(items), source="folders")


class PathsUnder:
    """Image paths from a label file, as POSIX paths relative to the resolved `root`. Links are followed; a path
    that leads outside the root is refused. Each folder is resolved once (10,000 CIFAR lines: 0.15 s, 0.7 s
    resolving every path from the file-system root)."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self._folders: dict[str, str] = {}

    def relative(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise DatasetError(f"{where}: the image path must be a non-empty string, got {value!r}")
        resolved = self._resolve(os.path.join(self.root, value))
        if not resolved.startswith(self.root + os.sep):
            raise DatasetError(
                f"{where}: image path {value!r} points outside the dataset folder {self.root}; "
                "paths must be relative to the label file and stay inside its folder"
            )
        return resolved[len(self.root) + 1 :].replace(os.sep, "/")

    def contains(self, path: Path) -> bool:
        """Whether `path` (absolute, or relative to the root), links followed, lies inside the root."""
        return self._resolve(os.path.join(self.root, path)).startswith(self.root + os.sep)

    def _resolve(self, path: str) -> str:
        if ".." in path.replace(os.sep, "/").split("/"):
            return os.path.realpath(path)  # ".." after a link is not the link's parent: resolve it all
        folder, name = os.path.split(path)
        if folder not in self._folders:
            self._folders[folder] = os.path.realpath(folder)
        resolved = os.path.join(self._folders[folder], name)
        return os.path.realpath(resolved) if os.path.islink(resolved) else resolved


def relative_to_root(root: Path, value: object, where: str) -> str:
    """One path from a label file relative to `root` (see `PathsUnder`)."""
    return PathsUnder(root).relative(value, where)


def read_label_text(label_file: Path) -> str:
    """The label file's text (UTF-8, a byte-order mark allowed); a file in another encoding is named, with the line."""
    data = label_file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(f"{label_file}:{line}: not UTF-8 text (byte {error.object[error.start]:#04x}); save the "
                           "file as UTF-8 (in a spreadsheet: CSV UTF-8)") from None


def _is_label(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _labels_from(value: object, where: str) -> tuple[str, ...]:
    """One label, or a label set from a list (multi-label; [] is an image with no label)."""
    if _is_label(value):
        return (str(value),)
    if not isinstance(value, list) or not all(_is_label(v) for v in value):
        raise DatasetError(f"{where}: label must be a string or a list of strings, got {value!r}")
    return checked_label_set([str(v) for v in value], where)


def checked_label_set(labels: list[str], where: str) -> tuple[str, ...]:
    """A multi-label image's labels, refused when one is empty or one is named twice."""
    if any(not label.strip() for label in labels):
        raise DatasetError(f"{where}: an empty label in the list {labels!r}; remove it ([] is an image with no label)")
    names = [normalized_label(label) for label in labels]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DatasetError(f"{where}: the label {twice[0]!r} is named twice in {labels!r}; name each label once")
    return tuple(labels)


def _check_unique(items: list[Item], label_file: Path) -> None:
    seen: dict[str, int | None] = {}
    for item in items:
        if item.path in seen:
            raise DatasetError(
                f"{label_file}: line {item.source_line} names {item.path}, already named on line "
                f"{seen[item.path]}; give each image once (a list of labels for multi-label)"
            )
        seen[item.path] = item.source_line


def read_jsonl(label_file: Path, options: ReaderOptions = ReaderOptions()) -> Manifest:
    """`{"image": "images/0.jpg", "label": "red"}` per line; paths relative to the file; other key names with
    `options` (path_column, label_column, split_column)."""
    image_key, label_key, split_key = options.path_column, options.label_column, options.split_column or "split"
    label_file = label_file.resolve()
    root = label_file.parent
    paths = PathsUnder(root)
    items, listed = [], False
    for number, line in enumerate(read_label_text(label_file).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label_file}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(
                f'{where}: not valid JSON ({error.msg}); each line must be an object like '
                '{"image": "images/0.jpg", "label": "cat"}'
            ) from None
        if not isinstance(record, dict) or image_key not in record or label_key not in record:
            raise DatasetError(f'{where}: each line needs the keys "{image_key}" and "{label_key}" (other names: '
                               f'--path-column, --label-column), got {line.strip()[:80]}')
        split = record.get(split_key)
        listed = listed or isinstance(record[label_key], list)
        items.append(
            Item(
                path=paths.relative(record[image_key], where),
                labels=_labels_from(record[label_key], where),
                split=SPLIT_NAMES.get(str(split).lower(), str(split)) if split is not None else None,
                source_line=number,
            )
        )
    _check_unique(items, label_file)
    return Manifest(root=root, items=tuple(items), source="jsonl", label_file=label_file, multilabel=listed)


def read_csv(label_file: Path, options: ReaderOptions = ReaderOptions()) -> Manifest:
    """A CSV with a header; image paths relative to the file; columns set by `options`."""
    label_file = label_file.resolve()
    root = label_file.parent
    paths = PathsUnder(root)
    reader = csv.DictReader(io.StringIO(read_label_text(label_file), newline=""))
    columns = reader.fieldnames or []
    wanted = {"--path-column": options.path_column, "--label-column": options.label_column}
    if options.split_column:
        wanted["--split-column"] = options.split_column
    for flag, column in wanted.items():
        if column not in columns:
            raise DatasetError(
                f"{label_file}: no column '{column}'; its columns are {', '.join(columns) or '(none)'}. "
                f"Name the right one with {flag}"
            )
    items, separated = [], False
    separator = options.label_separator
    for number, row in enumerate(reader, start=2):
        where = f"{label_file}:{number}"
        cell = (row[options.label_column] or "").strip()
        if separator is None:
            labels = (cell,)
            if not cell:
                raise DatasetError(f"{where}: empty label in column '{options.label_column}'")
        else:  # a label set; an empty cell is an image with no label, runs of a space separator are one
            separated = separated or separator in cell
            parts = cell.split() if separator == " " else [part.strip() for part in cell.split(separator)]
            labels = checked_label_set(parts, where) if cell else ()
        split = row[options.split_column].strip() if options.split_column else None
        items.append(
            Item(
                path=paths.relative(row[options.path_column], where),
                labels=labels,
                split=SPLIT_NAMES.get(split.lower(), split) if split else None,
                source_line=number,
            )
        )
    _check_unique(items, label_file)
    if separator is not None and items and not separated:
        raise DatasetError(f"{label_file}: --label-separator {separator!r} splits none of the {len(items)} labels in "
                           f"column '{options.label_column}' (e.g. {items[0].labels!r}); give the character that "
                           "separates labels in a cell, or leave it out for one label per image")
    return Manifest(root=root, items=tuple(items), source="csv", label_file=label_file, multilabel=separator is not None,
                    options={"path_column": options.path_column, "label_column": options.label_column})


def read_regex(root: Path, pattern: str) -> Manifest:
    """Labels from each image's path (relative to `root`) by a regex; its first group is the label."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise DatasetError(f"--label-regex {pattern!r} is not a valid regular expression: {error}") from None
    if regex.groups < 1:
        raise DatasetError(
            f"--label-regex {pattern!r} has no capture group; put the label in parentheses, "
            r"e.g. '([^/]+)_\d+\.jpg$'"
        )
    root = root.resolve()
    items, unmatched = [], []
    for image in image_files_under(root, inside=root):
        relative = image.relative_to(root).as_posix()
        match = regex.search(relative)
        if match and match.group(1):
            split = SPLIT_NAMES.get(relative.split("/", 1)[0].lower()) if "/" in relative else None
            items.append(Item(path=relative, labels=(match.group(1),), split=split))
        else:
            unmatched.append(relative)
    if unmatched and not items:
        raise DatasetError(
            f"--label-regex {pattern!r} matched none of the {len(unmatched)} images under {root} "
            f"(e.g. {unmatched[0]}); it is searched in the path relative to the dataset folder"
        )
    if unmatched:
        log.warning("%d images do not match --label-regex and are left out (e.g. %s)", len(unmatched), unmatched[0])
    return Manifest(root=root, items=tuple(items), source="regex", options={"label_regex": pattern})
