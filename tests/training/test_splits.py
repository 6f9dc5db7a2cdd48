import numpy as np

from helpers import make_color_folders
from labelfix.dataset import read_dataset
from labelfix.training.splits import assign_splits, nested_subset, read_split_file, split_csv, training_mask


def test_nested_subsets_are_stratified_and_contained():
    paths = [f"img_{i}.png" for i in range(90)]
    labels = np.repeat([0, 1, 2], 30)
    third, two_thirds, everything = (nested_subset(paths, labels, f, seed=5) for f in (1 / 3, 2 / 3, 1.0))
    assert np.bincount(labels[third]).tolist() == [10, 10, 10]
    assert np.bincount(labels[two_thirds]).tolist() == [20, 20, 20]
    assert np.all(third <= two_thirds) and everything.all()
    assert not np.array_equal(third, nested_subset(paths, labels, 1 / 3, seed=6))


def test_stratified_split_is_seeded(tmp_path):
    make_color_folders(tmp_path / "d", per_class=10)
    manifest = read_dataset(tmp_path / "d")
    splits = assign_splits(manifest, val_fraction=0.2, seed=1)
    assert (splits == "val").sum() == 6 and np.array_equal(splits, assign_splits(manifest, val_fraction=0.2, seed=1))
    labels = manifest.label_indices()
    assert np.bincount(labels[splits == "val"]).tolist() == [2, 2, 2]


def test_saved_split_is_kept_when_images_are_removed(tmp_path):
    root = tmp_path / "d"
    make_color_folders(root, per_class=10)
    manifest = read_dataset(root)
    splits = assign_splits(manifest, val_fraction=0.3, seed=0)
    (tmp_path / "split.csv").write_text(split_csv(manifest, splits, training_mask(manifest, splits, 1.0, 0)))
    removed = [item.path for item, split in zip(manifest.items, splits) if split == "val"][:2]
    removed += [item.path for item, split in zip(manifest.items, splits) if split == "train"][:3]
    for path in removed:
        (root / path).unlink()
    smaller = read_dataset(root)
    before = dict(zip([item.path for item in manifest.items], splits))
    again = assign_splits(smaller, val_fraction=0.3, seed=0, saved=read_split_file(tmp_path / "split.csv"))
    assert [before[item.path] for item in smaller.items] == again.tolist()
    fresh = assign_splits(smaller, val_fraction=0.3, seed=0)  # without the saved split, some images would move
    assert fresh.tolist() != again.tolist()


def test_dataset_val_split_is_used_and_test_images_unused(tmp_path):
    for first_seed, split in enumerate(("train", "val", "test")):
        make_color_folders(tmp_path / "d" / split, per_class=3, first_seed=100 * first_seed)
    manifest = read_dataset(tmp_path / "d")
    splits = assign_splits(manifest, val_fraction=0.5, seed=0)
    assert splits.tolist() == [{"train": "train", "val": "val", "test": "unused"}[item.split] for item in manifest.items]
