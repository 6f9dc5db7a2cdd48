import numpy as np
from PIL import Image

from labelfix.images.stats import image_statistics


def _photo(seed=0, size=(96, 64)):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_statistics_of_a_noisy_photo():
    stats = image_statistics(_photo(), {"format": "PNG", "frames": 1})
    assert (stats["width"], stats["height"], stats["format"]) == (96, 64, "PNG")
    assert stats["entropy"] > 7 and stats["sharpness"] > 0.1 and stats["colorfulness"] > 0.1
    assert 0 <= stats["brightness_p1"] < stats["brightness_p99"] <= 1


def test_pixel_hash_is_the_same_for_the_same_pixels_only():
    image = _photo()
    assert image_statistics(image)["pixel_hash"] == image_statistics(image.copy())["pixel_hash"]
    assert image_statistics(image)["pixel_hash"] != image_statistics(_photo(1))["pixel_hash"]
