from pathlib import Path

import pytest

from helpers import color_image, write_jsonl
from labelfix.dataset import ReaderOptions, read_dataset
from labelfix.errors import DatasetError


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color_image((100, 100, 100), 0, 8).save(path)
    return path


def test_class_folders_sorted_with_labels(tmp_path):
    for name in ("b/2.png", "a/1.png", "a/0.jpg", "b/sub/3.png"):
        _image(tmp_path / name)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    manifest = read_dataset(tmp_path)
    assert manifest.source == "folders"
    assert [i.path for i in manifest.items] == ["a/0.jpg", "a/1.png", "b/2.png", "b/sub/3.png"]
    assert [i.label for i in manifest.items] == ["a", "a", "b", "b"]
    assert manifest.classes == ("a", "b")
    assert manifest.label_indices().tolist() == [0, 0, 1, 1]


def test_split_folders_keep_the_split(tmp_path):
    for name in ("train/cat/0.png", "train/dog/1.png", "val/cat/2.png", "test/dog/3.png"):
        _image(tmp_path / name)
    manifest = read_dataset(tmp_path)
    assert [(i.split, i.label) for i in manifest.items] == [
        ("test", "dog"), ("train", "cat"), ("train", "dog"), ("val", "cat")
    ]


def test_jsonl_paths_relative_to_file_with_multilabel_and_split(tmp_path):
    _image(tmp_path / "images/0.jpg")
    _image(tmp_path / "images/1.jpg")
    write_jsonl(tmp_path / "labels.jsonl", [
        {"image": "images/0.jpg", "label": "red"},
        {"image": "images/1.jpg", "label": ["blue", "green"], "split": "validation"},
    ])
    manifest = read_dataset(tmp_path)
    assert manifest.source == "jsonl"
    assert manifest.items[0].labels == ("red",)
    assert manifest.items[1].labels == ("blue", "green") and manifest.items[1].split == "val"
    assert manifest.is_multilabel
    assert manifest.classes == ("blue", "green", "red")


def test_jsonl_given_as_file(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    label_file = write_jsonl(tmp_path / "mine.jsonl", [{"image": "a.png", "label": 1}, {"image": "b.png", "label": 2}])
    assert [i.label for i in read_dataset(label_file).items] == ["1", "2"]


def test_jsonl_keys_of_other_names(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    label_file = write_jsonl(tmp_path / "mine.jsonl", [{"file": "a.png", "class": "cat", "subset": "val"},
                                                      {"file": "b.png", "class": "dog", "subset": "train"}])
    options = ReaderOptions(path_column="file", label_column="class", split_column="subset")
    assert [(i.path, i.label, i.split) for i in read_dataset(label_file, options).items] == [
        ("a.png", "cat", "val"), ("b.png", "dog", "train")]
    with pytest.raises(DatasetError, match='keys "image" and "label" .*--path-column'):
        read_dataset(label_file)


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "labels.jsonl:2: not valid JSON"),
        ('{"image": "x.png"}', 'labels.jsonl:2: each line needs the keys "image" and "label"'),
        ('{"image": "../outside.png", "label": "a"}', "outside the dataset folder"),
        ('{"image": "a.png", "label": {"x": 1}}', "label must be a string"),
        ('{"image": "a.png", "label": "b"}', "already named on line 1"),
        ('{"image": "b.png", "label": ["a", ["c"]]}', "label must be a string or a list of strings"),
        ('{"image": "b.png", "label": ["a", " "]}', "labels.jsonl:2: an empty label in the list"),
        ('{"image": "b.png", "label": ["a", "c", "a"]}', "labels.jsonl:2: the label 'a' is named twice"),
    ],
)
def test_jsonl_bad_lines_name_file_and_line(tmp_path, line, message):
    (tmp_path / "labels.jsonl").write_text('{"image": "a.png", "label": "a"}\n' + line + "\n")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("{", r"\{")):
        read_dataset(tmp_path)


def test_csv_with_configured_columns_and_separator(tmp_path):
    (tmp_path / "data.csv").write_text("file,tags,part\nx/0.png,cat|dog,train\nx/1.png,cat,test\n")
    manifest = read_dataset(
        tmp_path / "data.csv",
        ReaderOptions(path_column="file", label_column="tags", split_column="part", label_separator="|"),
    )
    assert [(i.path, i.labels, i.split) for i in manifest.items] == [
        ("x/0.png", ("cat", "dog"), "train"), ("x/1.png", ("cat",), "test")
    ]


def test_csv_unknown_column_lists_columns_and_flag(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\na.png,x\n")
    with pytest.raises(DatasetError, match=r"no column 'image'; its columns are file, label\. .*--path-column"):
        read_dataset(tmp_path)


def test_regex_labels_from_file_names(tmp_path):
    for name in ("Abyssinian_1.jpg", "Abyssinian_2.jpg", "great_pyrenees_10.jpg", "readme.jpg"):
        _image(tmp_path / "images" / name)
    manifest = read_dataset(tmp_path, ReaderOptions(label_regex=r"([^/]+)_\d+\.jpg$"))
    assert [i.label for i in manifest.items] == ["Abyssinian", "Abyssinian", "great_pyrenees"]


@pytest.mark.parametrize("pattern, message", [("([a-z", "not a valid regular expression"), (r"\d+", "no capture group"),
                                              (r"(zzz)_\d", "matched none of the")])
def test_bad_regex(tmp_path, pattern, message):
    _image(tmp_path / "a_1.jpg")
    with pytest.raises(DatasetError, match=message):
        read_dataset(tmp_path, ReaderOptions(label_regex=pattern))


def test_empty_and_single_class_datasets(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        read_dataset(tmp_path / "empty")
    _image(tmp_path / "one" / "cat" / "0.png")
    with pytest.raises(DatasetError, match=r"only one class \(cat\)"):
        read_dataset(tmp_path / "one")


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        read_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        read_dataset(tmp_path, ReaderOptions(format="parquet"))


def test_a_label_file_in_another_encoding_is_named_with_its_line(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "labels.jsonl").write_bytes('{"image": "a.png", "label": "x"}\n{"image": "a.png", "label": "caf\xe9"}\n'
                                            .encode("latin-1"))
    with pytest.raises(DatasetError, match=r"labels.jsonl:2: not UTF-8 text.*save the file as UTF-8"):
        read_dataset(tmp_path / "labels.jsonl")
    (tmp_path / "labels.csv").write_bytes("image,label\na.png,x\na.png,\xe9t\xe9\n".encode("cp1252"))
    with pytest.raises(DatasetError, match=r"labels.csv:3: not UTF-8"):
        read_dataset(tmp_path / "labels.csv")


def test_labels_that_differ_in_spaces_or_unicode_form_become_one(tmp_path, caplog):
    for index in range(4):
        _image(tmp_path / f"{index}.png")
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    write_jsonl(tmp_path / "labels.jsonl", [{"image": "0.png", "label": composed}, {"image": "1.png", "label": decomposed},
                                            {"image": "2.png", "label": " dog"}, {"image": "3.png", "label": "dog"}])
    manifest = read_dataset(tmp_path)
    assert manifest.classes == (composed, "dog")
    assert "were made one" in caplog.text and "' dog'" in caplog.text


def test_links_out_of_the_dataset_are_left_out_of_class_folders(tmp_path, caplog):
    import os

    root, outside = tmp_path / "data", tmp_path / "elsewhere"
    for name in ("cat/1.png", "cat/2.png", "dog/1.png"):
        _image(root / name)
    _image(outside / "secret.png")
    os.symlink(outside / "secret.png", root / "dog" / "secret.png")
    os.symlink(root / "cat" / "1.png", root / "dog" / "inside.png")  # a link within the dataset is fine
    os.symlink(root / "dog" / "loop.png", root / "dog" / "loop.png")  # a link to itself leads nowhere
    manifest = read_dataset(root)
    assert [item.path for item in manifest.items] == ["cat/1.png", "cat/2.png", "dog/1.png", "dog/inside.png"]
    assert "secret.png (a link out of the dataset folder)" in caplog.text and "loop.png (a link that leads nowhere)" in caplog.text


def test_jsonl_lists_are_label_sets_and_an_empty_list_is_no_label(tmp_path):
    write_jsonl(tmp_path / "labels.jsonl", [{"image": "a.png", "label": ["cat", "sofa"]},
                                            {"image": "b.png", "label": []}, {"image": "c.png", "label": ["dog"]}])
    manifest = read_dataset(tmp_path)
    assert manifest.is_multilabel and [i.labels for i in manifest.items] == [("cat", "sofa"), (), ("dog",)]
    assert manifest.label_matrix().tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]  # classes cat, dog, sofa


def test_lists_of_one_label_are_multilabel_and_task_decides(tmp_path):
    write_jsonl(tmp_path / "labels.jsonl", [{"image": "a.png", "label": ["cat"]}, {"image": "b.png", "label": ["dog"]}])
    assert read_dataset(tmp_path).is_multilabel  # lists say label sets
    assert not read_dataset(tmp_path, ReaderOptions(task="single")).is_multilabel
    write_jsonl(tmp_path / "labels.jsonl", [{"image": "a.png", "label": "cat"}, {"image": "b.png", "label": "dog"}])
    assert not read_dataset(tmp_path).is_multilabel
    assert read_dataset(tmp_path, ReaderOptions(task="multilabel")).is_multilabel


def test_task_single_names_the_line_with_a_label_set(tmp_path):
    write_jsonl(tmp_path / "labels.jsonl", [{"image": "a.png", "label": "cat"}, {"image": "b.png", "label": ["cat", "dog"]}])
    with pytest.raises(DatasetError, match=r"labels.jsonl:2: 2 labels \['cat', 'dog'\] in a single-label dataset"):
        read_dataset(tmp_path, ReaderOptions(task="single"))


def test_csv_separator_space_reads_planet_style_tags(tmp_path):
    (tmp_path / "labels.csv").write_text("image,label\na.png,haze  primary\nb.png,clear\nc.png,\n")
    manifest = read_dataset(tmp_path, ReaderOptions(label_separator=" "))
    assert [i.labels for i in manifest.items] == [("haze", "primary"), ("clear",), ()] and manifest.is_multilabel


@pytest.mark.parametrize("cell, message", [
    ("cat;;dog", r"labels.csv:2: an empty label in the list"),
    ("cat;dog;cat", r"labels.csv:2: the label 'cat' is named twice"),
])
def test_csv_label_sets_refuse_empty_and_repeated_labels(tmp_path, cell, message):
    (tmp_path / "labels.csv").write_text(f"image,label\na.png,{cell}\nb.png,dog\n")
    with pytest.raises(DatasetError, match=message):
        read_dataset(tmp_path, ReaderOptions(label_separator=";"))


def test_a_separator_that_splits_nothing_is_named(tmp_path):
    (tmp_path / "labels.csv").write_text("image,label\na.png,cat dog\nb.png,dog\n")
    with pytest.raises(DatasetError, match=r"labels.csv: --label-separator ';' splits none of the 2 labels"):
        read_dataset(tmp_path, ReaderOptions(label_separator=";"))
