"""Checkpoints: weights + architecture + class names + preprocessing + resolved config + metrics, in one file.

Loading needs neither the original weights file nor internet: the timm architecture is created with
random weights and the saved state is loaded into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from labelfix.backbones import plain_data_config
from labelfix.errors import ModelError
from labelfix.fileio import atomic_path

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    network: nn.Module  # in eval mode
    architecture: str
    classes: list[str]
    data_config: dict  # timm data config: input_size, mean, std, interpolation, crop_pct, crop_mode
    config: dict  # the resolved TrainConfig
    metrics: dict  # the epoch it was saved at
    multilabel: bool = False  # label sets: sigmoid outputs, a class is present at or over its threshold
    thresholds: list[float] | None = None  # (K,) per-class thresholds chosen on the validation split


def save_checkpoint(path: Path, network: nn.Module, *, architecture: str, classes: list[str], data_config: dict,
                    config: dict, metrics: dict, multilabel: bool = False) -> None:
    """Write the checkpoint atomically (a reader never sees half a file)."""
    state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION, "architecture": architecture, "classes": list(classes),
        "data_config": plain_data_config(data_config),
        "config": config, "metrics": metrics, "state_dict": state, "multilabel": multilabel, "thresholds": None,
    }
    with atomic_path(Path(path)) as temporary:
        torch.save(payload, temporary)


def save_thresholds(path: Path, thresholds: list[float]) -> None:
    """Store a multi-label checkpoint's per-class thresholds in it (rewritten atomically)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["thresholds"] = [float(t) for t in thresholds]
    with atomic_path(Path(path)) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`; the network is on `device`, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found; give the checkpoint.pt of a training run")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"{path}: not a labelfix checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or "architecture" not in payload or "state_dict" not in payload:
        raise ModelError(f"{path}: not a labelfix checkpoint (no architecture / state_dict); was it written by labelfix train?")
    network = timm.create_model(payload["architecture"], pretrained=False, num_classes=len(payload["classes"]))
    network.load_state_dict(payload["state_dict"])
    data_config = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["data_config"].items()}
    return Checkpoint(network=network.to(device).eval(), architecture=payload["architecture"],
                      classes=list(payload["classes"]), data_config=data_config, config=payload["config"],
                      metrics=payload["metrics"], multilabel=bool(payload.get("multilabel")),
                      thresholds=payload.get("thresholds"))
