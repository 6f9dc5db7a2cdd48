"""Train, eval and test-time-augmentation transforms from the model's own data config plus the augment options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import timm.data
import torch
from PIL import Image
from torchvision import transforms as tv

from labelfix.config import AugmentConfig


def eval_transform(data_config: dict):
    """Resize, centre crop, normalise: the model's own evaluation preprocessing."""
    return timm.data.create_transform(**data_config, is_training=False)


@dataclass(frozen=True)
class SplitTransform:
    """The model's evaluation preprocessing in two parts: `to_pixels` (PIL image → uint8 tensor (C, H, W), run
    where images are decoded) and `normalize` (uint8 batch → normalised float batch, run on the device). Decoding
    workers then send a quarter of the bytes, and the numbers are the same as the whole transform's."""

    resize_and_crop: Callable
    mean: torch.Tensor  # (3, 1, 1)
    std: torch.Tensor  # (3, 1, 1)

    def to_pixels(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.array(self.resize_and_crop(image), dtype=np.uint8)).permute(2, 0, 1)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 → float32 as ToTensor and Normalize make them."""
        floats = pixels.to(torch.float32).div(255)
        return floats.sub_(self.mean.to(floats.device)).div_(self.std.to(floats.device))


def split_eval_transform(data_config: dict) -> SplitTransform:
    """`eval_transform` split before its final ToTensor + Normalize (see `SplitTransform`)."""
    steps = list(eval_transform(data_config).transforms)
    *resize_and_crop, to_tensor, normalize = steps
    if "ToTensor" not in type(to_tensor).__name__ or not isinstance(normalize, tv.Normalize):
        raise ValueError(f"unexpected evaluation transform {steps}: it should end with ToTensor and Normalize")
    return SplitTransform(tv.Compose(resize_and_crop), torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1),
                          torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1))


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
