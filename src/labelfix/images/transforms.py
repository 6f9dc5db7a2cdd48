"""Train, eval and test-time-augmentation transforms from the model's own data config plus the augment options."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import timm.data
import torch
from PIL import Image
from timm.data.random_erasing import RandomErasing
from torchvision import transforms as tv

from labelfix.config import AugmentConfig
from labelfix.images.resample import pass_order, resize_like_pil

NORMALIZE_CHUNK = 4  # images normalised at a time on a CPU (see `normalized_pixels`)


def eval_transform(data_config: dict):
    """Resize, centre crop, normalise: the model's own evaluation preprocessing."""
    return timm.data.create_transform(**data_config, is_training=False)


@dataclass(frozen=True)
class SplitTransform:
    """The model's evaluation preprocessing in two parts: `to_pixels` (PIL image → uint8 tensor (C, H, W), run
    where images are decoded) and `normalize` (uint8 batch → normalised float batch, run on the device). Decoding
    workers then send a quarter of the bytes, and the numbers are the same as the whole transform's."""

    resize_and_crop: Callable  # torchvision's Resize + CenterCrop: PIL images and uint8 tensors alike
    mean: torch.Tensor  # (3, 1, 1)
    std: torch.Tensor  # (3, 1, 1)
    side: int  # the input size: the crop's side
    # the resize step's longest target side: a JPEG may be decoded reduced while both its sides stay at least this
    # long (`images.io.open_image`'s `at_least`), and the resize still only shrinks it
    decode_side: int | None = None

    def to_pixels(self, image: Image.Image, *, small_as_they_are: bool = False) -> torch.Tensor:
        """uint8 (C, H, W) at the input size; with `small_as_they_are`, an image no larger than the input size comes
        as it is, to be resized by `finish` on the device (a 32×32 image then travels in 1/25 of the bytes, and its
        worker skips the resize: 356 of about 700 µs per CIFAR image on one core)."""
        return uint8_pixels(image if small_as_they_are and max(image.size) <= self.side else self.resize_and_crop(image))

    def finish(self, pixels: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """A uint8 batch (B, C, side, side) from what `to_pixels` made (a batch, or a list of differently sized
        images), where they are: images not yet at the input size are resized and cropped, a group of equal size
        at a time, to the same pixels as PIL's resize in `to_pixels` (`images.resample`; where a resize step is not
        one it reproduces, torchvision's antialiased resize of tensors, which follows PIL's: on CIFAR-10 images 0.2
        grey levels apart on average)."""
        if isinstance(pixels, torch.Tensor):
            return pixels if pixels.shape[-2:] == (self.side, self.side) else self._resized_and_cropped(pixels)
        batch = torch.empty((len(pixels), 3, self.side, self.side), dtype=torch.uint8, device=pixels[0].device)
        for shape in {tuple(image.shape) for image in pixels}:
            members = [i for i, image in enumerate(pixels) if tuple(image.shape) == shape]
            batch[members] = self.finish(torch.stack([pixels[i] for i in members]))
        return batch

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 → float32 as ToTensor and Normalize make them."""
        return normalized_pixels(pixels, self.mean, self.std)

    def _resized_and_cropped(self, pixels: torch.Tensor) -> torch.Tensor:
        """`resize_and_crop` of a uint8 batch of one size, its resize step as PIL resizes where it can be."""
        resize, *rest = self.resize_and_crop.transforms or [None]
        if not isinstance(resize, tv.Resize):
            return self.resize_and_crop(pixels)
        height, width = pixels.shape[-2:]
        size = _resized_size(resize, width, height)
        if pass_order((height, width), size, resize.interpolation) is None:
            return self.resize_and_crop(pixels)
        return tv.Compose(rest)(resize_like_pil(pixels, size, resize.interpolation))


@dataclass(frozen=True)
class SplitTrainTransform:
    """`train_transform` in two parts, as `SplitTransform` splits the evaluation one: `to_pixels` (its steps on PIL
    images: random resized crop, flips, colour jitter, RandAugment, blur, rotation, perspective → uint8 (C, H, W), run
    in the loader's workers) and `finish` (a uint8 batch → normalised float32, then random erasing; run where the
    batch is, on the GPU under CUDA). The workers do about half the work and send a quarter of the bytes, and the
    numbers are the whole transform's (random erasing draws from the main process's generators, not a worker's)."""

    augment: Callable  # the steps on PIL images
    mean: torch.Tensor  # (3, 1, 1)
    std: torch.Tensor  # (3, 1, 1)
    erasing: RandomErasing | None = None

    def to_pixels(self, image: Image.Image) -> torch.Tensor:
        return uint8_pixels(self.augment(image))

    def finish(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 → the float32 batch the whole transform makes, randomly erased where it erases."""
        floats = normalized_pixels(pixels, self.mean, self.std)
        if self.erasing is None:
            return floats
        self.erasing.device = floats.device  # its random fill is drawn where the batch is
        return self.erasing(floats)


@lru_cache(maxsize=256)
def _resized_size(resize: tv.Resize, width: int, height: int) -> tuple[int, int]:
    """(height, width) that `resize` gives a PIL image of `width` × `height` (asked of the step itself)."""
    width, height = resize(Image.new("L", (width, height))).size
    return height, width


def uint8_pixels(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a uint8 tensor (C, H, W) (a view of its pixels in (H, W, C) order)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


def normalized_pixels(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) uint8 → float32 as ToTensor and Normalize make them (the same operations in the same order, so
    the same numbers), in the batch's memory format.

    A channels-last batch is taken as rows of interleaved channels, with the mean and std repeated along a row (a
    per-channel broadcast there would run 3 numbers at a time), and on a CPU a few images at a time, so that the
    four steps find their floats in the cache: 1.7-2.4x faster for 64 photos at 224 px on 2 cores."""
    mean, std = mean.to(pixels.device), std.to(pixels.device)
    if pixels.dim() != 4 or not pixels.is_contiguous(memory_format=torch.channels_last):
        floats = pixels.to(torch.float32)  # in place from here on: the same numbers, one float batch less to fill
        return floats.div_(255).sub_(mean).div_(std)
    batch, channels, height, width = pixels.shape
    rows = pixels.permute(0, 2, 3, 1).reshape(batch * height, width * channels)  # a view of the same memory
    mean_row, std_row = mean.flatten().repeat(width), std.flatten().repeat(width)
    floats = torch.empty(rows.shape, dtype=torch.float32, device=pixels.device)
    step = height * (NORMALIZE_CHUNK if pixels.device.type == "cpu" else batch)
    for start in range(0, len(rows), step):
        floats[start : start + step].copy_(rows[start : start + step]).div_(255).sub_(mean_row).div_(std_row)
    return floats.view(batch, height, width, channels).permute(0, 3, 1, 2)


def split_eval_transform(data_config: dict) -> SplitTransform:
    """`eval_transform` split before its final ToTensor + Normalize (see `SplitTransform`)."""
    resize_and_crop, normalize, after = _split_at_to_tensor(eval_transform(data_config))
    if after:
        raise ValueError(f"unexpected steps after Normalize in the evaluation transform: {after}")
    resize = next((step for step in resize_and_crop if isinstance(step, tv.Resize)), None)
    decode_side = None if resize is None else int(max(np.atleast_1d(resize.size)))
    return SplitTransform(tv.Compose(resize_and_crop), *_mean_and_std(normalize), data_config["input_size"][-1],
                          decode_side)


def split_train_transform(data_config: dict, augment: AugmentConfig) -> SplitTrainTransform:
    """`train_transform` split before its ToTensor + Normalize (see `SplitTrainTransform`)."""
    steps, normalize, after = _split_at_to_tensor(train_transform(data_config, augment))
    if any(not isinstance(step, RandomErasing) for step in after) or len(after) > 1:
        raise ValueError(f"unexpected steps after Normalize in the training transform: {after}")
    return SplitTrainTransform(tv.Compose(steps), *_mean_and_std(normalize), after[0] if after else None)


def _split_at_to_tensor(transform: tv.Compose) -> tuple[list, tv.Normalize, list]:
    """(the steps before ToTensor, the Normalize right after it, the steps after that)."""
    steps = list(transform.transforms)
    at = next((i for i, step in enumerate(steps) if "ToTensor" in type(step).__name__), None)
    if at is None or at + 1 >= len(steps) or not isinstance(steps[at + 1], tv.Normalize):
        raise ValueError(f"unexpected transform {steps}: it should have ToTensor followed by Normalize")
    return steps[:at], steps[at + 1], steps[at + 2 :]


def _mean_and_std(normalize: tv.Normalize) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1),
            torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1))


def train_decode_side(data_config: dict, augment: AugmentConfig) -> int:
    """The shortest side a training image needs for `train_transform`'s smallest random crop (a share
    `crop_scale[0]` of its area, aspect ratio 3:4) to still hold the input size's pixels on both sides: a larger JPEG
    may be decoded reduced to it (`images.io.open_image`'s `at_least`). A 12-megapixel photo trained at 224 px with
    the default crops (area share 0.35 and up) then decodes at a quarter of its side, 16× fewer pixels."""
    side = max(data_config["input_size"][-2:])
    return math.ceil(side / math.sqrt(0.75 * min(augment.crop_scale)))


def train_transform(data_config: dict, augment: AugmentConfig):
    """timm's training pipeline (random resized crop, flips, colour jitter, RandAugment, blur, erasing) with
    torchvision's rotation and perspective inserted before the conversion to a tensor."""
    pipeline = timm.data.create_transform(
        input_size=data_config["input_size"],
        is_training=True,
        scale=tuple(augment.crop_scale),
        hflip=augment.hflip,
        vflip=augment.vflip,
        color_jitter=augment.color_jitter or None,
        auto_augment=augment.rand_augment,
        gaussian_blur_prob=augment.blur,
        re_prob=augment.random_erasing,
        interpolation=data_config.get("interpolation", "bilinear"),
        mean=data_config["mean"],
        std=data_config["std"],
    )
    extra = []
    if augment.rotation:
        extra.append(tv.RandomRotation(augment.rotation))
    if augment.perspective:
        extra.append(tv.RandomPerspective(p=augment.perspective))
    if extra:
        steps = list(pipeline.transforms)
        at = next(i for i, step in enumerate(steps) if "ToTensor" in type(step).__name__)
        pipeline = tv.Compose(steps[:at] + extra + steps[at:])
    return pipeline


def tta_views(images: torch.Tensor, zoom: float = 0.875) -> list[torch.Tensor]:
    """Views averaged at test time (B, C, H, W each): the images, flipped, a zoomed centre crop, and it flipped."""
    height, width = images.shape[-2:]
    top, left = round(height * (1 - zoom) / 2), round(width * (1 - zoom) / 2)
    crop = images[..., top : height - top, left : width - left]
    zoomed = torch.nn.functional.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
    return [images, images.flip(-1), zoomed, zoomed.flip(-1)]
