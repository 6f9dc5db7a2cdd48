from labelfix.apply.layout import class_folder_path, unique_paths, uses_split_folders
from labelfix.apply.rules import KeptImage


def test_class_folder_paths_and_collisions():
    assert class_folder_path("cat/a.jpg", "dog", source_format="folders", split=None) == "dog/a.jpg"
    assert class_folder_path("valid/cat/x/a.jpg", "dog", source_format="folders", split="val") == "valid/dog/x/a.jpg"
    assert class_folder_path("images/a.jpg", "dog", source_format="jsonl", split="train") == "train/dog/images/a.jpg"
    assert unique_paths([(1, "dog/a.jpg"), (2, "dog/a.jpg"), (3, "dog/b")], {"dog/b"}) == {
        1: "dog/a.jpg", 2: "dog/a_2.jpg", 3: "dog/b_2"}


def test_split_folders_only_when_every_image_has_a_known_split():
    assert uses_split_folders([KeptImage(0, "a.png", "cat", "train"), KeptImage(1, "b.png", "dog", "val")])
    assert not uses_split_folders([KeptImage(0, "a.png", "cat", "train"), KeptImage(1, "b.png", "dog", None)])
    assert not uses_split_folders([KeptImage(0, "a.png", "cat", "holdout")])
    assert not uses_split_folders([])
