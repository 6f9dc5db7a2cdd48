import pytest

from labelfix.config import load_config
from labelfix.errors import ConfigError


def test_yaml_then_flags(tmp_path):
    path = tmp_path / "labelfix.yaml"
    path.write_text("seed: 3\ncrossval:\n  folds: 4\nembedding:\n  batch_size: 16\n")
    config = load_config(path, {"crossval.folds": 6, "embedding.model": None})
    assert (config.seed, config.crossval.folds, config.embedding.batch_size, config.embedding.model) == (3, 6, 16, "lite0")


@pytest.mark.parametrize(
    "text, message",
    [
        ("crossval:\n  fold: 4\n", "crossval.fold: Extra inputs are not permitted"),
        ("crossval:\n  folds: 1\n", "crossval.folds"),
        ("seed: [\n", "not valid YAML"),
        ("- a\n", "must be a mapping"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "labelfix.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
