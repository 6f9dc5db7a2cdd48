import pytest

from labelfix.config import load_config, load_train_config
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


def test_the_readme_config_blocks_load_and_show_the_defaults(tmp_path):
    """The two YAML blocks in README.md (scan, then train) are valid configs holding the default values."""
    from pathlib import Path

    from labelfix.config import load_train_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```yaml\n")[1:]]
    assert len(blocks) == 2
    for block, load in zip(blocks, (load_config, load_train_config)):
        path = tmp_path / "config.yaml"
        path.write_text(block)
        assert load(path).model_dump() == load(None).model_dump()


@pytest.mark.parametrize("precision, reduced", [("auto", True), ("fp32", False)])
def test_the_embedding_precision_reaches_the_backbone(tmp_path, tiny_weights, precision, reduced):
    from helpers import make_color_folders
    from labelfix.dataset import read_dataset
    from labelfix.pipeline import configured_backbone

    make_color_folders(tmp_path / "d", per_class=2)
    config = load_config(None, {"embedding.model": "test_efficientnet", "embedding.weights": tiny_weights,
                                "embedding.precision": precision})
    assert configured_backbone(config, read_dataset(tmp_path / "d")).reduced_precision is reduced


@pytest.mark.parametrize("settings, side", [
    ({}, 128),  # 6 images at 160 px count 9.4 > 8 at 128 px: small images drop to 128 px, where they fit
    ({"crossval.auto_max_images": 10}, 160),  # they fit as they are
    ({"crossval.method": "embedding"}, 160),  # no last stages to fit
    ({"embedding.image_size": 160}, 160),  # a size asked for is kept
])
def test_small_images_are_embedded_at_128_px_when_that_lets_the_last_stages_fit(tmp_path, tiny_weights, settings,
                                                                                 side):
    from helpers import COLORS, color_image
    from labelfix.dataset import read_dataset
    from labelfix.pipeline import configured_backbone

    for name, color in COLORS.items():
        (tmp_path / "d" / name).mkdir(parents=True)
        for seed in range(2):
            color_image(color, seed, size=32).save(tmp_path / "d" / name / f"{seed}.png")
    config = load_config(None, {"embedding.model": "test_efficientnet", "embedding.weights": tiny_weights,
                                "crossval.auto_max_images": 8, **settings})
    assert configured_backbone(config, read_dataset(tmp_path / "d")).data_config["input_size"][-1] == side


def test_a_crop_scale_outside_zero_to_one_is_refused_with_the_key():
    with pytest.raises(ConfigError, match="augment.crop_scale"):
        load_train_config(None, {"augment.crop_scale": [0.0, 1.0]})
