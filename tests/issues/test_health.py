import numpy as np
import pytest
from PIL import Image, ImageFilter

from labelfix.images.stats import image_statistics
from labelfix.issues import health


def _photo(seed=0, size=(96, 64)):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "image, check, column",
    [
        (Image.new("RGB", (64, 64), (3, 3, 3)), health.dark, "brightness_p99"),
        (Image.new("RGB", (64, 64), (252, 252, 252)), health.light, "brightness_p1"),
        (_photo().filter(ImageFilter.GaussianBlur(6)), health.blurry, "sharpness"),
        (Image.new("RGB", (64, 64), (120, 40, 40)), health.low_information, "entropy"),
        (_photo().convert("L").convert("RGB"), health.grayscale, "colorfulness"),
    ],
)
def test_each_health_check_flags_its_problem_and_not_a_photo(image, check, column):
    thresholds = {health.dark: 0.15, health.light: 0.08, health.blurry: 0.35, health.low_information: 0.2,
                  health.grayscale: 0.05}
    values = np.array([image_statistics(image)[column], image_statistics(_photo())[column]])
    is_issue, score = check(values, thresholds[check])
    assert is_issue.tolist() == [True, False]
    assert score[0] < score[1] and ((score >= 0) & (score <= 1)).all()


def test_odd_size_and_aspect_ratio():
    width, height = np.array([100, 110, 90, 2000, 100]), np.array([100, 100, 95, 2000, 10])
    assert health.odd_size(width, height, 0.1)[0].tolist() == [False, False, False, True, False]
    assert health.odd_aspect_ratio(width, height, 0.3)[0].tolist() == [False, False, False, False, True]


def test_invalid_reasons():
    ok = {"format": "JPEG", "frames": 1, "width": 640, "height": 480}
    options = dict(max_pixels=1_000_000, min_side=16, max_side=5000)
    assert health.invalid_reasons("a/x.jpg", ok, **options) == []
    assert health.invalid_reasons("a/x.png", ok, **options) == ["JPEG data in a .png file"]
    assert "animated" in health.invalid_reasons("x.gif", {**ok, "format": "GIF", "frames": 5}, **options)[0]
    assert "huge" in health.invalid_reasons("x.jpg", {**ok, "width": 2000, "height": 2000}, **options)[0]
    assert "tiny" in health.invalid_reasons("x.jpg", {**ok, "width": 8}, **options)[0]
    assert health.invalid_reasons("x.jpg", {}, **options) == []


def test_a_property_of_most_images_is_the_norm():
    assert health.common_to_the_dataset(np.array([True, True, True, False]), 0.5)
    assert not health.common_to_the_dataset(np.array([True, False, False, False]), 0.5)
