import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as tv

from labelfix.backbones import sized_data_config
from labelfix.config import AugmentConfig
from labelfix.images.transforms import (
    eval_transform,
    split_eval_transform,
    split_train_transform,
    train_decode_side,
    train_transform,
)

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


@pytest.mark.parametrize("channels_last", [True, False])
def test_a_batch_is_normalised_to_the_same_numbers_in_its_own_memory_format(channels_last):
    """Batches of 7 images (not a whole number of the CPU's chunks), either layout: the numbers ToTensor and
    Normalize give each image, to the last bit."""
    split = split_eval_transform(IMAGENET)
    pixels = torch.randint(0, 256, (7, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    batch = pixels.contiguous(memory_format=torch.channels_last) if channels_last else pixels
    floats = split.normalize(batch)
    for image, normalised in zip(pixels, floats):
        expected = tv.Normalize(IMAGENET["mean"], IMAGENET["std"])(tv.ToTensor()(image.permute(1, 2, 0).numpy()))
        assert torch.equal(normalised, expected)
    assert floats.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize(("config", "side"), [(LITE0, 256), (sized_data_config(LITE0, 160), 160)])
def test_jpegs_may_be_decoded_down_to_the_resize_steps_target(config, side):
    assert split_eval_transform(config).decode_side == side


@pytest.mark.parametrize("config", [sized_data_config(LITE0, 160), IMAGENET])
def test_small_images_resized_on_the_device_equal_the_workers_resize(config):
    """CUDA scans send images no larger than the input as they are and resize them there (`finish`): a batch of
    mixed sizes comes out at the input size with PIL's pixels, to the bit; larger images are resized in the workers
    as before."""
    rng = np.random.default_rng(0)
    side = config["input_size"][-1]
    small = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((32, 32), (28, 40), (32, 32), (61, 9))]
    images = [Image.fromarray(pixels) for pixels in small] + [Image.fromarray(rng.integers(0, 256, (300, 400, 3), np.uint8))]
    split = split_eval_transform(config)
    sent = [split.to_pixels(image, small_as_they_are=True) for image in images]
    assert [tuple(p.shape[1:]) for p in sent] == [(32, 32), (28, 40), (32, 32), (61, 9), (side, side)]
    finished = split.finish(sent)
    expected = torch.stack([split.to_pixels(image) for image in images])
    assert finished.dtype == torch.uint8 and torch.equal(finished, expected)
    assert torch.equal(split.finish(expected), expected)  # a batch already at the input size is left alone


@pytest.mark.parametrize(("config", "crop_scale"), [(LITE0, (0.35, 1.0)), (sized_data_config(LITE0, 160), (0.08, 1.0))])
def test_the_smallest_random_crop_of_an_image_reduced_for_training_keeps_the_input_size(config, crop_scale):
    augment = AugmentConfig(crop_scale=crop_scale)
    side, decode_side = config["input_size"][-1], train_decode_side(config, augment)
    crop = next(step for step in train_transform(config, augment).transforms if hasattr(step, "get_params"))
    torch.manual_seed(0)

    def smallest_crop_side(image_side: int) -> int:
        image = Image.new("RGB", (image_side, image_side))
        return min(min(crop.get_params(image, crop.scale, crop.ratio)[2:]) for _ in range(3000))

    assert smallest_crop_side(decode_side) >= side - 1
    assert smallest_crop_side(round(0.9 * decode_side)) < side - 1  # and no larger than it needs to be


@pytest.mark.parametrize("augment", [AugmentConfig(), AugmentConfig(rotation=15, color_jitter=0.3, vflip=0.5)])
def test_training_pixels_finished_on_the_device_equal_the_whole_training_transform(augment):
    """The workers send uint8 pixels and the batch is normalised where it goes: the same random draws give the same
    numbers, to the bit."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    whole, split = train_transform(LITE0, augment), split_train_transform(LITE0, augment)
    for seed in range(3):
        random.seed(seed), torch.manual_seed(seed)
        expected = whole(image)
        random.seed(seed), torch.manual_seed(seed)
        pixels = split.to_pixels(image)
        assert pixels.dtype == torch.uint8
        assert torch.equal(split.finish(pixels[None])[0], expected)


def test_random_erasing_runs_on_the_finished_batch():
    split = split_train_transform(LITE0, AugmentConfig(random_erasing=1.0))
    image = Image.fromarray(np.full((256, 256, 3), 128, dtype=np.uint8))
    pixels = torch.stack([split.to_pixels(image) for _ in range(4)])
    plain = split_train_transform(LITE0, AugmentConfig()).finish(pixels.clone())
    erased = split.finish(pixels)
    assert erased.shape == plain.shape == (4, 3, 224, 224)
    assert all(not torch.equal(erased[i], plain[i]) for i in range(4))  # each image lost a patch
