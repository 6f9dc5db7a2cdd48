import numpy as np
from PIL import Image

from labelfix.config import AugmentConfig
from labelfix.training.data import evaluation_images, training_images

LITE0 = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
         "crop_pct": 0.875, "crop_mode": "center"}


def _photos(folder, sizes):
    rng = np.random.default_rng(0)
    paths = []
    for i, (width, height) in enumerate(sizes):
        pixels = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        paths.append(folder / f"{i}.jpg")
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def test_large_jpegs_are_decoded_reduced_to_what_each_transform_needs(tmp_path):
    """Training keeps enough pixels for its smallest random crop (both sides at least 438 at 224 px with crops of 35%
    of the area and up), evaluation for its resize to 256; a photo too small to halve is decoded whole."""
    paths = _photos(tmp_path, [(3200, 2400), (504, 376)])
    labels = np.zeros(len(paths), dtype=int)
    training, evaluation = training_images(paths, labels, LITE0, AugmentConfig()), evaluation_images(paths, labels, LITE0)
    for images in (training, evaluation):
        images.transform = lambda image: image.size
    assert [training[i][0] for i in range(2)] == [(800, 600), (504, 376)]
    assert [evaluation[i][0] for i in range(2)] == [(400, 300), (504, 376)]


def test_reduced_training_images_still_go_through_the_whole_transform(tmp_path):
    paths = _photos(tmp_path, [(3200, 2400)])
    image, label = training_images(paths, np.array([3]), LITE0, AugmentConfig())[0]
    assert tuple(image.shape) == (3, 224, 224) and label == 3
