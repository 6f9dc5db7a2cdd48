import numpy as np
import pytest
import torch
from PIL import Image

from labelfix.backbones import sized_data_config
from labelfix.images.transforms import eval_transform, split_eval_transform

LITE0 = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
         "crop_pct": 0.875, "crop_mode": "center"}
IMAGENET = {**LITE0, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "interpolation": "bilinear"}


@pytest.mark.parametrize("config", [LITE0, sized_data_config(LITE0, 160), IMAGENET])
def test_uint8_pixels_normalised_on_the_device_equal_the_whole_transform(config):
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((32, 32), (375, 500))]
    whole, split = eval_transform(config), split_eval_transform(config)
    for image in images:
        pixels = split.to_pixels(image)
        assert pixels.dtype == torch.uint8 and pixels.shape == (3, config["input_size"][1], config["input_size"][2])
        assert torch.equal(split.normalize(pixels[None])[0], whole(image))
