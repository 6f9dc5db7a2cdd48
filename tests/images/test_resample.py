import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode

from labelfix.images.resample import CHUNK, pass_order, resize_like_pil

SIZES = [((32, 32), (182, 182)), ((28, 40), (182, 260)), ((61, 9), (7, 50)), ((40, 40), (26, 80)),
         ((36, 31), (8, 18)), ((50, 3), (50, 11)), ((1, 1), (4, 3)), ((45, 60), (45, 60))]


@pytest.mark.parametrize("interpolation", [InterpolationMode.BICUBIC, InterpolationMode.BILINEAR])
@pytest.mark.parametrize(("in_size", "out_size"), SIZES)
def test_tensors_are_resized_to_pils_pixels_to_the_bit(interpolation, in_size, out_size):
    """Enlarged, shrunk, one axis of each, one axis only, unchanged: a batch of random images and of smooth ones
    (where rounding matters most), each as PIL's `Image.resize` makes it."""
    rng = np.random.default_rng(sum(in_size + out_size))
    height, width = in_size
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ramp = np.clip(np.linspace(0, 255, width)[None, :, None] + rng.normal(0, 3, (height, width, 3)), 0, 255)
    images = [noise, ramp.astype(np.uint8)]
    resample = Image.Resampling[interpolation.name]
    expected = np.stack([np.array(Image.fromarray(image).resize(out_size[::-1], resample)) for image in images])
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    resized = resize_like_pil(batch, out_size, interpolation)
    assert resized.dtype == torch.uint8 and np.array_equal(resized.permute(0, 2, 3, 1).numpy(), expected)


def test_filters_pil_is_not_reproduced_with_have_no_pass_order():
    assert pass_order((32, 32), (64, 64), InterpolationMode.LANCZOS) is None
    with pytest.raises(ValueError, match="not reproduced"):
        resize_like_pil(torch.zeros((1, 3, 32, 32), dtype=torch.uint8), (64, 64), InterpolationMode.NEAREST)


def test_a_batch_larger_than_a_chunk_is_resized_image_by_image():
    images = np.random.default_rng(0).integers(0, 256, (CHUNK + 5, 6, 5, 3), dtype=np.uint8)
    resized = resize_like_pil(torch.from_numpy(images).permute(0, 3, 1, 2), (20, 17), InterpolationMode.BICUBIC)
    expected = np.stack([np.array(Image.fromarray(image).resize((17, 20), Image.Resampling.BICUBIC)) for image in images])
    assert np.array_equal(resized.permute(0, 2, 3, 1).numpy(), expected)
