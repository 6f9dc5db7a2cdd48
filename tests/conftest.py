"""Shared fixtures: one embedding cache per session, scanned runs made once per session, tiny random-weight models."""

from __future__ import annotations

import csv
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import labelfix
from helpers import COLORS, HOSTILE_NAME, color_image, file_states, make_color_folders, make_color_sets, write_jsonl
from labelfix import store


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Torch on one thread: the tests' models and images are tiny, so a second thread saves little on an idle
    machine, and on a busy one threads that wait for each other turn seconds into minutes."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory):
    """The embedding cache for every test: the synthetic images repeat across tests, and the cache is keyed by
    content, so sharing it only saves time. Tests that count cache hits use `fresh_cache`."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABELFIX_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty embedding cache (and crash-log folder) for this test alone."""
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("LABELFIX_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def color_dataset(tmp_path) -> tuple[Path, dict[str, str]]:
    """60 colour images in class folders, two of them filed under the wrong colour."""
    root = tmp_path / "colors"
    planted = make_color_folders(root, flips={"red": "blue", "green": "red"})
    return root, planted


@dataclass(frozen=True)
class ScannedRun:
    """A dataset and its scan, made once per session. Read it; copy it (`helpers.copy_run`) to change it."""

    root: Path
    planted: dict[str, str]  # {path: true class} of the images filed under a wrong class
    unreadable: tuple[str, ...]
    run_dir: Path
    files_before: dict
    result: object  # labelfix.ScanResult


@pytest.fixture(scope="session")
def scanned(tmp_path_factory) -> ScannedRun:
    """Colour folders with three planted label errors (one of them a file named like an <img> tag) and two
    unreadable files, scanned with 3 folds."""
    root = tmp_path_factory.mktemp("scanned") / "colors"
    planted = make_color_folders(root, flips={"red": "blue", "green": "red"})
    color_image(COLORS["blue"], 777).save(root / "red" / HOSTILE_NAME)
    planted[f"red/{HOSTILE_NAME}"] = "blue"
    (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "blue" / "empty.png").write_bytes(b"")
    before = file_states(root)
    run_dir = root.parent / "run"
    result = labelfix.scan(root, out=run_dir, folds=3, workers=0)
    return ScannedRun(root, planted, ("red/broken.jpg", "blue/empty.png"), run_dir, before, result)


@pytest.fixture
def scanned_copy(scanned, tmp_path) -> Path:
    """A private copy of the session's scanned dataset (to add or change files in)."""
    return Path(shutil.copytree(scanned.root, tmp_path / "colors"))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """Seeded random weights of timm's tiny `test_efficientnet` (fast to train at 32 px)."""
    import timm
    import torch

    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(timm.create_model("test_efficientnet").state_dict(), path)
    return path


@pytest.fixture
def offline(monkeypatch):
    """No hub access, as on a machine without internet (huggingface_hub reads the variable at import)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


# --- three layouts of one dataset, scanned and reviewed: what `apply` reads ---------------------------------------

DECISIONS = (  # (path, action, label) relative to the class of the folder layout below
    ("red/green_00.png", "accept", "green"),  # planted error (not flagged at this size; the review page shows it)
    ("green/green_03.png", "relabel", "blue"),
    ("blue/blue_05.png", "remove", None),
    ("red/red_04.png", "keep", None),
)




def hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def scan(path: Path, out: Path, **options):
    return labelfix.scan(path, out=out, folds=3, workers=0, **options)


def _decide(run: Path, prefix: str) -> None:
    """Record DECISIONS by "bo", then a relabel of the removed image by "ann" that is undone (the removal counts)."""
    db = store.open_store(run)
    table = store.items_with_suggestions(db)
    ids = dict(zip(table["path"], table["item_id"]))
    store.record_decisions(db, [(ids[prefix + path], action, label) for path, action, label in DECISIONS], reviewer="bo")
    removed = ids[prefix + "blue/blue_05.png"]
    store.record_decisions(db, [(removed, "relabel", "red")], reviewer="ann")
    assert store.undo_decision(db, removed)
    db.close()


@dataclass
class DecidedRuns:
    runs: dict[str, Path]  # layout -> run folder
    roots: dict[str, Path]  # layout -> dataset root
    hashes: dict[str, dict[str, str]]  # layout -> file hashes before anything was applied
    decisions: tuple = DECISIONS

    def assert_untouched(self, name: str) -> None:
        assert hashes(self.roots[name]) == self.hashes[name]

    @staticmethod
    def hashes_of(root: Path) -> dict[str, str]:
        return hashes(root)

    def expected_labels(self, prefix: str, flagged_undecided: dict[str, str] | None = None) -> dict[str, str]:
        """{original path: final label} for the recorded decisions, without the unreadable file."""
        labels = {}
        for split, per_class in (("train", 10), ("val", 3)):
            for name in ("red", "green", "blue"):
                for index in range(per_class):
                    folder = {"red": "blue", "green": "red"}.get(name, name) if split == "train" and index == 0 else name
                    labels[f"{prefix}{split}/{folder}/{name}_{index:02d}.png"] = folder
        for path, action, label in self.decisions:
            key = f"{prefix}train/{path}"
            if action == "remove":
                del labels[key]
            elif label:
                labels[key] = label
        return {**labels, **(flagged_undecided or {})}

    def fresh_copy(self, name: str, tmp_path: Path, **options) -> tuple[Path, Path]:
        """A copy of one dataset, scanned (embeddings from the cache) and decided like the others."""
        root = tmp_path / name
        shutil.copytree(self.roots[name], root)
        run = scan(root / "pets.csv" if name == "csv" else root, tmp_path / "run", **options).run_dir
        _decide(run, "train/" if name == "folders" else "images/train/")
        return root, run


@pytest.fixture(scope="session")
def decided_runs(tmp_path_factory) -> DecidedRuns:
    """Three tiny datasets of the same images (class folders with splits, labels.jsonl, a CSV), scanned once,
    with the same decisions recorded; the source hashes are taken before anything is applied."""
    base = tmp_path_factory.mktemp("apply")
    folders = base / "folders"
    make_color_folders(folders / "train", per_class=10, flips={"red": "blue", "green": "red"})
    make_color_folders(folders / "val", per_class=3, first_seed=500)
    (folders / "train" / "blue" / "broken.png").write_bytes(b"not a png")
    pictures = sorted(p.relative_to(folders).as_posix() for p in folders.rglob("*.png"))

    jsonl_root, csv_root = base / "jsonl", base / "csv"
    for root in (jsonl_root, csv_root):
        for relative in pictures:
            (root / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folders / relative, root / "images" / relative)
    entries = [(f"images/{p}", p.split("/")[1], p.split("/")[0]) for p in pictures]
    write_jsonl(jsonl_root / "labels.jsonl",
                [{"image": image, "label": label, "split": split, "note": i} for i, (image, label, split) in enumerate(entries)])
    with (csv_root / "pets.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "cls", "part", "source"])
        writer.writerows([(image, label, split, "web") for image, label, split in entries])

    scanned = {
        "folders": scan(folders, base / "run-folders").run_dir,
        "jsonl": scan(jsonl_root, base / "run-jsonl").run_dir,
        "csv": scan(csv_root / "pets.csv", base / "run-csv", path_column="file", label_column="cls",
                     split_column="part").run_dir,
    }
    for name, run in scanned.items():
        _decide(run, "train/" if name == "folders" else "images/train/")
    roots = {"folders": folders, "jsonl": jsonl_root, "csv": csv_root}
    return DecidedRuns(scanned, roots, {k: hashes(v) for k, v in roots.items()})


# image n shows the colour pair n % 6 of (red, red), (red, green), (red, blue), (green, green), (green, blue), (blue, blue)
MULTILABEL_PLANTED = {0: ("missing", "red"), 13: ("missing", "green"), 4: ("extra", "red"), 21: ("extra", "red")}


@dataclass(frozen=True)
class MultilabelRun:
    truth: dict  # {path: ("missing" | "extra", colour)} of the planted label-set errors
    files_before: dict
    result: object  # labelfix.ScanResult


@pytest.fixture(scope="session")
def multilabel_scanned(tmp_path_factory) -> MultilabelRun:
    """60 two-colour images labelled with the set of colours they show (labels.jsonl lists), four sets planted
    wrong, scanned with 3 folds."""
    root = tmp_path_factory.mktemp("sets") / "data"
    label_file, truth = make_color_sets(root, per_pair=10, planted=MULTILABEL_PLANTED)
    before = file_states(root)
    result = labelfix.scan(label_file, out=root.parent / "run", folds=3, workers=0)
    return MultilabelRun(truth=truth, files_before=before, result=result)
