"""Where work runs: the torch device, how many decoding workers, how many CPU threads a computation may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from labelfix.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else the CPU; 'cuda', 'cuda:1', 'cpu' are taken as given."""
    import torch  # here, not at import: default_workers serves code that never loads torch (verify)

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device name; use auto, cpu, cuda or cuda:N") from None


def reduced_precision(device: torch.device) -> torch.dtype | None:
    """The dtype a forward pass may run in without losing what it measures: fp16 on CUDA, bf16 on CPUs with native
    bf16 arithmetic (AMX or AVX-512 BF16: 1.6x the fp32 speed for lite0), None (fp32) elsewhere, where bf16 is
    emulated and slower."""
    import torch

    if device.type == "cuda":
        return torch.float16
    native = [getattr(torch.cpu, name, lambda: False) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return torch.bfloat16 if device.type == "cpu" and any(check() for check in native) else None


def inference_autocast(device: torch.device, reduced: bool = True) -> AbstractContextManager:
    """Autocast to the device's `reduced_precision` when `reduced` and it has one; otherwise a context that does
    nothing (fp32)."""
    import torch

    dtype = reduced_precision(device) if reduced else None
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def default_workers() -> int:
    """Image-decoding worker processes when none are asked for: one per CPU core, at most 8."""
    return min(8, os.cpu_count() or 1)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's CPU operations on `count` threads inside the block; the previous count is restored."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
