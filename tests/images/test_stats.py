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


def test_percentiles_from_the_histogram_equal_numpys_to_the_last_bit():
    from labelfix.images.stats import histogram_percentiles

    rng = np.random.default_rng(0)
    samples = [rng.integers(0, 256, n, dtype=np.uint8) for n in (1, 2, 3, 7, 100, 1024, 4097)]
    samples += [np.full(50, 9, np.uint8), rng.integers(100, 103, 999, dtype=np.uint8), np.array([0, 255], np.uint8)]
    for values in samples:
        histogram = np.bincount(values, minlength=256)
        for q in ([1, 99], [0, 50, 100], [2.5, 37.5, 62.5]):
            assert histogram_percentiles(histogram, q).tolist() == np.percentile(values, q).tolist()
