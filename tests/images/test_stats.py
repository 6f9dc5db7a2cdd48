import io

import numpy as np
import pytest
from PIL import Image

from labelfix.images.io import open_image
from labelfix.images.stats import histogram_percentiles, image_statistics, laplacian_std


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


def test_statistics_of_a_jpeg_decoded_reduced_describe_the_stored_image():
    """Size as stored; a pixel hash equal for the same picture in another JPEG file and unequal to a small image's
    with the very pixels the reduced decode gave; sharpness measured at about the scale a whole decode would use."""
    photo = _photo(size=(100, 75)).resize((3200, 2400), Image.Resampling.BICUBIC)
    files = []
    for comment in (b"one", b"two"):
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=90, comment=comment)
        files.append(buffer.getvalue())
    assert files[0] != files[1]
    whole = image_statistics(*open_image(files[0]))
    reduced = [image_statistics(*open_image(data, at_least=256)) for data in files]
    assert (reduced[0]["width"], reduced[0]["height"]) == (whole["width"], whole["height"]) == (3200, 2400)
    assert reduced[0]["pixel_hash"] == reduced[1]["pixel_hash"] != whole["pixel_hash"]
    small, _ = open_image(files[0], at_least=256)
    assert small.size == (400, 300) and image_statistics(small)["pixel_hash"] != reduced[0]["pixel_hash"]
    for name in ("brightness", "sharpness", "entropy", "colorfulness"):
        assert reduced[0][name] == pytest.approx(whole[name], rel=0.02), name


def test_percentiles_from_the_histogram_equal_numpys_to_the_last_bit():
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, 256, n, dtype=np.uint8) for n in (1, 2, 3, 7, 100, 1024, 4097)]
    samples += [np.full(50, 9, np.uint8), rng.integers(100, 103, 999, dtype=np.uint8), np.array([0, 255], np.uint8)]
    for values in samples:
        histogram = np.bincount(values, minlength=256)
        for q in ([1, 99], [0, 50, 100], [2.5, 37.5, 62.5]):
            assert histogram_percentiles(histogram, q).tolist() == np.percentile(values, q).tolist()


def test_images_longer_than_383_pixels_are_measured_on_a_copy_reduced_by_the_nearest_whole_factor():
    """Up to 383 px every pixel counts; 384-639 px a copy halved, 640-895 px a third: 192-319 px long."""
    names = ("brightness", "brightness_p1", "brightness_p99", "entropy", "sharpness", "colorfulness")
    for size, factor in (((500, 375), 2), ((384, 200), 2), ((700, 300), 3)):
        photo = _photo(size=size)
        measured, reduced = image_statistics(photo), image_statistics(photo.reduce(factor))
        assert [measured[name] for name in names] == [reduced[name] for name in names]
        assert (measured["width"], measured["height"]) == size
        assert measured["pixel_hash"] != reduced["pixel_hash"]  # the stored size is hashed too
    whole = _photo(size=(383, 287))
    assert image_statistics(whole)["sharpness"] == round(laplacian_std(np.asarray(whole.convert("L"))), 5)


def test_a_jpeg_decoded_smaller_than_the_statistics_copy_is_measured_as_decoded_not_enlarged():
    """A model with a small input decodes a 1600-px JPEG at an eighth (200 px), smaller than the 267-px copy the
    statistics would use: enlarging it would blur it."""
    buffer = io.BytesIO()
    _photo(size=(160, 120)).resize((1600, 1200), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    image, facts = open_image(buffer.getvalue(), at_least=100)
    assert image.size == (200, 150)
    statistics = image_statistics(image, facts)
    assert (statistics["width"], statistics["height"]) == (1600, 1200)
    assert statistics["sharpness"] == round(laplacian_std(np.asarray(image.convert("L"))), 5)
